/**
 * One HTTP exchange with the server and its retries: builds the Request (auth, request id, query
 * string), enforces the per-attempt timeout, and turns every failure into a typed error. Uses only
 * fetch, Request, AbortController and setTimeout, so it runs on Node, Workers, Deno and browsers.
 */
import { AbortError, errorFromAnswer, NetworkError, TimeoutError, UnexpectedResponseError, type UsageDbError } from './errors.ts';
import { abortError, parseRetryAfter, retryPolicy, withRetry, type RetryPolicy, type Sleep } from './retry.ts';

/** `globalThis.fetch`, or e.g. `(req) => app.fetch(req)` for an in-process Hono app. */
export type FetchLike = (request: Request) => Promise<Response> | Response;

/** Per-call options every client method takes last. */
export interface CallOptions {
  /** Cancels the call (no retry after it fires). */
  readonly signal?: AbortSignal;
  /** Sent as X-Request-Id (retries send `<id>.<attempt>`); default: a fresh ULID. */
  readonly requestId?: string;
  /** Overrides the client's per-attempt timeout. */
  readonly timeoutMs?: number;
  /** Overrides the client's retry policy for this call; `false`: one attempt. */
  readonly retry?: Partial<RetryPolicy> | false;
}

export interface HttpConfig {
  readonly baseUrl: string;
  readonly apiKey: string | undefined;
  readonly fetch: FetchLike;
  readonly timeoutMs: number;
  readonly retry: RetryPolicy;
  readonly sleep: Sleep;
  readonly random: () => number;
  readonly now: () => number;
  readonly newRequestId: () => string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface HttpRequest {
  readonly method: 'GET' | 'POST';
  /** Path with its parameters filled in and encoded. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  /** JSON text of the body. */
  readonly body?: string;
  /** Parse the answer as JSON (default) or return its text. */
  readonly expect?: 'json' | 'text';
  /** Non-2xx statuses whose body is an answer, not an error (/health's 503). */
  readonly answerStatuses?: readonly number[];
}

export interface HttpAnswer<T> {
  readonly status: number;
  readonly body: T;
  readonly requestId: string | undefined;
  /** Attempts the call took (1 without retries). */
  readonly attempts: number;
}

/** Sends `req`, retrying per the policy; the answer says how many attempts it took. */
export async function send<T>(config: HttpConfig, req: HttpRequest, opts: CallOptions = {}): Promise<HttpAnswer<T>> {
  const policy = opts.retry === false ? { ...config.retry, attempts: 1 } : retryPolicy(opts.retry, config.retry);
  const id = opts.requestId ?? config.newRequestId();
  let attempts = 0;
  const answer = await withRetry(
    (n) => {
      attempts = n;
      return attemptOnce<T>(config, req, n === 1 ? id : `${id}.${n}`, opts);
    },
    { policy, sleep: config.sleep, random: config.random, ...(opts.signal === undefined ? {} : { signal: opts.signal }) },
  );
  return { ...answer, attempts };
}

/** The URL of `path` + query under the base URL (which may carry a path prefix). */
export function urlOf(baseUrl: string, path: string, query?: Readonly<Record<string, string>>): string {
  const qs = query === undefined ? '' : new URLSearchParams(query).toString();
  return `${baseUrl.replace(/\/+$/, '')}${path}${qs === '' ? '' : `?${qs}`}`;
}

async function attemptOnce<T>(config: HttpConfig, req: HttpRequest, requestId: string, opts: CallOptions): Promise<Omit<HttpAnswer<T>, 'attempts'>> {
  const caller = opts.signal;
  if (caller?.aborted) throw abortError(caller, requestId);
  const controller = new AbortController();
  let timedOut = false;
  const timeoutMs = opts.timeoutMs ?? config.timeoutMs;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onAbort = (): void => controller.abort(caller?.reason);
  caller?.addEventListener('abort', onAbort, { once: true });

  const headers: Record<string, string> = {
    accept: req.expect === 'text' ? 'text/plain, text/html, */*' : 'application/json',
    'x-request-id': requestId,
    ...config.headers,
  };
  if (config.apiKey !== undefined) headers.authorization = `Bearer ${config.apiKey}`;
  if (req.body !== undefined) headers['content-type'] = 'application/json';

  /** A failure before a complete answer: the caller's abort, our timeout, or the network. */
  const noAnswer = (err: unknown): UsageDbError => {
    if (caller?.aborted) return abortError(caller, requestId);
    if (timedOut) return new TimeoutError({ code: 'timeout', message: `no answer within ${timeoutMs} ms`, requestId, cause: err });
    if (err instanceof AbortError) return err;
    return new NetworkError({ code: 'network_error', message: `no answer: ${err instanceof Error ? err.message : String(err)}`, requestId, cause: err });
  };

  try {
    let response: Response;
    let text: string;
    try {
      const request = new Request(urlOf(config.baseUrl, req.path, req.query), {
        method: req.method,
        headers,
        signal: controller.signal,
        ...(req.body === undefined ? {} : { body: req.body }),
      });
      response = await config.fetch(request);
      text = await response.text();
    } catch (err) {
      throw noAnswer(err);
    }
    const answerId = response.headers.get('x-request-id') ?? requestId;
    const ok = (response.status >= 200 && response.status < 300) || (req.answerStatuses ?? []).includes(response.status);
    if (!ok) {
      throw errorFromAnswer(response.status, parseJsonOrUndefined(text), answerId, parseRetryAfter(response.headers.get('retry-after'), config.now()));
    }
    if (req.expect === 'text') return { status: response.status, body: text as T, requestId: answerId };
    const body = parseJsonOrUndefined(text);
    if (body === undefined) {
      throw new UnexpectedResponseError({
        code: 'unexpected_response',
        message: `HTTP ${response.status} answer is not JSON: ${text.slice(0, 80)}`,
        status: response.status,
        requestId: answerId,
      });
    }
    return { status: response.status, body: body as T, requestId: answerId };
  } finally {
    clearTimeout(timer);
    caller?.removeEventListener('abort', onAbort);
  }
}

function parseJsonOrUndefined(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
