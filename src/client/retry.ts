/**
 * Retries of one request: which failures are retried (the error's `retryable`: 429, 502, 503,
 * 504, network errors, timeouts), exponential backoff with full jitter, and Retry-After (seconds
 * or an HTTP date) honoured as a lower bound on the wait. Sleeps are injectable and abortable.
 */
import { AbortError, UsageDbError } from './errors.ts';

export interface RetryPolicy {
  /** Attempts in all, the first included (1: no retry). */
  readonly attempts: number;
  /** Backoff cap of the first retry; doubles with every retry. */
  readonly baseDelayMs: number;
  /** Cap of the exponential backoff. */
  readonly maxDelayMs: number;
  /** A Retry-After longer than this ends the retries (the error carries `retryAfterMs`). */
  readonly maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 200, maxDelayMs: 10_000, maxRetryAfterMs: 60_000 };

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** setTimeout-based sleep that rejects with AbortError when `signal` fires. */
export const defaultSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export function abortError(signal: AbortSignal, requestId?: string): AbortError {
  return new AbortError({
    code: 'aborted',
    message: 'the request was aborted by the caller',
    cause: signal.reason,
    ...(requestId === undefined ? {} : { requestId }),
  });
}

/**
 * Retry-After as milliseconds: delta-seconds or an HTTP date (relative to `nowMs`, never
 * negative); undefined when absent or unparsable.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  if (!/[a-z]/i.test(v)) return undefined;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** Full-jitter backoff before retry number `retry` (1 for the first retry): uniform in [0, cap). */
export function backoffMs(retry: number, policy: RetryPolicy, random: () => number): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  return Math.floor(random() * cap);
}

/**
 * The wait before retry number `retry` after `err`, or undefined when `err` must not be retried.
 * With Retry-After the wait is Retry-After plus a jitter below `baseDelayMs` (never earlier than
 * the server asked; spreads clients that were told the same); without, full-jitter backoff.
 */
export function retryDelay(err: unknown, retry: number, policy: RetryPolicy, random: () => number): number | undefined {
  if (!(err instanceof UsageDbError) || !err.retryable) return undefined;
  if (retry >= policy.attempts) return undefined;
  if (err.retryAfterMs !== undefined) {
    if (err.retryAfterMs > policy.maxRetryAfterMs) return undefined;
    return err.retryAfterMs + Math.floor(random() * policy.baseDelayMs);
  }
  return backoffMs(retry, policy, random);
}

export interface RetryContext {
  readonly policy: RetryPolicy;
  readonly sleep: Sleep;
  readonly random: () => number;
  readonly signal?: AbortSignal;
  /** Called before each wait (logging, tests). */
  readonly onRetry?: (err: UsageDbError, attempt: number, delayMs: number) => void;
}

/** Runs `attempt(1)`, `attempt(2)`, ... until one succeeds or the error is final. */
export async function withRetry<T>(attempt: (n: number) => Promise<T>, ctx: RetryContext): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      const delay = retryDelay(err, n, ctx.policy, ctx.random);
      if (delay === undefined) throw err;
      ctx.onRetry?.(err as UsageDbError, n, delay);
      await ctx.sleep(delay, ctx.signal);
    }
  }
}

/** Validates a partial policy over the defaults. */
export function retryPolicy(over: Partial<RetryPolicy> | undefined, base: RetryPolicy = DEFAULT_RETRY): RetryPolicy {
  const p = { ...base, ...over };
  if (!Number.isInteger(p.attempts) || p.attempts < 1) throw new RangeError('retry.attempts must be an integer >= 1');
  for (const k of ['baseDelayMs', 'maxDelayMs', 'maxRetryAfterMs'] as const) {
    if (!Number.isFinite(p[k]) || p[k] < 0) throw new RangeError(`retry.${k} must be a number >= 0`);
  }
  return p;
}
