/** Bounds and backoff for the commit loop: exponential with full jitter, longer when throttled. */

export interface CommitPolicy {
  /** Attempts (mutation runs) before a typed contention error. */
  readonly maxAttempts: number;
  /** Wall time for one commit, all attempts and read-backs included. */
  readonly maxDurationMs: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** After 429 / 503 SlowDown: R2 admits about one write per second per key. */
  readonly throttledBaseDelayMs: number;
  readonly throttledMaxDelayMs: number;
}

export const DEFAULT_COMMIT_POLICY: CommitPolicy = {
  maxAttempts: 64,
  maxDurationMs: 30_000,
  baseDelayMs: 5,
  maxDelayMs: 500,
  throttledBaseDelayMs: 250,
  throttledMaxDelayMs: 4_000,
};

export function backoffMs(attempt: number, throttled: boolean, p: CommitPolicy, random: () => number): number {
  const base = throttled ? p.throttledBaseDelayMs : p.baseDelayMs;
  const cap = throttled ? p.throttledMaxDelayMs : p.maxDelayMs;
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt - 1, 20));
  return Math.floor(random() * ceiling);
}
