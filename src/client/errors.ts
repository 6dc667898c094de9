/**
 * Typed errors of the client: one class per kind of answer, keyed by the server's stable `code`
 * (falling back on the HTTP status), each carrying status, message, details, the request id and
 * Retry-After; plus the client's own failures (network, timeout, abort, tracker buffer).
 */
import type { EventOutcome, IngestReport } from './ingest.ts';
import type { ErrorCode, UsageEvent } from './types.ts';

export interface ErrorInit {
  readonly code: string;
  readonly message: string;
  /** HTTP status; 0 when no answer arrived (network, timeout, abort) or the error is local. */
  readonly status?: number;
  readonly details?: Readonly<Record<string, unknown>>;
  /** The answer's X-Request-Id (or the id the client sent when no answer arrived). */
  readonly requestId?: string;
  /** Milliseconds the server asked to wait (Retry-After), when it did. */
  readonly retryAfterMs?: number;
  readonly cause?: unknown;
}

/** What an `ingest()` call that failed part-way had done: attached to the error it throws. */
export interface IngestProgress {
  /** Outcomes and counts of the batches acknowledged before the failure. */
  readonly report: IngestReport;
  /**
   * The events not acknowledged (the failed batch and every batch after it), with their
   * `event_id`s minted: send exactly these again and the server deduplicates what did land.
   */
  readonly unacknowledged: readonly { readonly index: number; readonly event: UsageEvent }[];
}

export class UsageDbError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: Readonly<Record<string, unknown>> | undefined;
  readonly requestId: string | undefined;
  readonly retryAfterMs: number | undefined;
  /** Sending the same request again may succeed (the client's retry loop does so). */
  readonly retryable: boolean = false;
  /** Set on the error `ingest()` throws: what was acknowledged and what was not. */
  ingest: IngestProgress | undefined;

  constructor(init: ErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
    this.code = init.code;
    this.status = init.status ?? 0;
    this.details = init.details;
    this.requestId = init.requestId;
    this.retryAfterMs = init.retryAfterMs;
    this.ingest = undefined;
  }
}

/** 400 `invalid_request`: a bad parameter or body; `details.field` names it. */
export class BadRequestError extends UsageDbError {}
/** 401 `unauthorized`: no or unknown API key. */
export class UnauthorizedError extends UsageDbError {}
/** 403 `forbidden`: the key lacks the route's scope. */
export class ForbiddenError extends UsageDbError {}
/** 404 `not_found`. */
export class NotFoundError extends UsageDbError {}
/** 413 `payload_too_large`: body or event count over the server's limit (`details.limit`). */
export class PayloadTooLargeError extends UsageDbError {}
/** 429 (a proxy or gateway in front of the server): retryable. */
export class RateLimitedError extends UsageDbError {
  override readonly retryable: boolean = true;
}
/** 500 `internal`, `segment_corrupt`, `misconfigured`: a server fault; not retried. */
export class ServerError extends UsageDbError {}
/** 502 `store_refused` (or a gateway's 502): nothing of a failed write was acknowledged; retryable. */
export class BadGatewayError extends UsageDbError {
  override readonly retryable: boolean = true;
}
/** 503 (`manifest_contention`, `commit_outcome_unknown`, `store_unavailable`, ...) or 504: retryable. */
export class UnavailableError extends UsageDbError {
  override readonly retryable: boolean = true;
}
/** No answer: connection refused or reset, DNS, a body cut short. Retryable. */
export class NetworkError extends UsageDbError {
  override readonly retryable: boolean = true;
}
/** No answer within `timeoutMs` (the request was aborted). Retryable: the outcome is unknown. */
export class TimeoutError extends NetworkError {}
/** The caller's AbortSignal fired. Never retried. */
export class AbortError extends UsageDbError {}
/** A 2xx answer that is not the JSON the route documents. */
export class UnexpectedResponseError extends UsageDbError {}
/** A bad argument caught before sending (e.g. an account id no URL can carry). */
export class InvalidArgumentError extends UsageDbError {}
/** `track()` while the tracker holds `maxBufferedEvents` unacknowledged events. Nothing was dropped. */
export class BufferFullError extends UsageDbError {}
/** `track()` after `close()`. */
export class TrackerClosedError extends UsageDbError {}

/**
 * Events a flush could not store: the server answered `rejected` or `conflict` (final, so they
 * are not retried; this error is how they are not dropped silently). `report` is the whole flush.
 */
export class EventsRejectedError extends UsageDbError {
  readonly outcomes: readonly EventOutcome[];
  readonly events: readonly UsageEvent[];
  readonly report: IngestReport;
  constructor(outcomes: readonly EventOutcome[], report: IngestReport, events: readonly UsageEvent[]) {
    const first = outcomes[0];
    super({
      code: 'events_rejected',
      message: `${outcomes.length} event(s) not stored${first === undefined ? '' : `; first: ${first.event_id}: ${first.reason ?? first.status}`}`,
    });
    this.outcomes = outcomes;
    this.events = events;
    this.report = report;
  }
}

type ErrorClass = new (init: ErrorInit) => UsageDbError;

/** The server's public codes (its PUBLIC_ERROR_CODES) → class: 4xx are the caller's, 503 retryable, 500 fatal. */
export const ERROR_CLASSES_BY_CODE: Readonly<Record<ErrorCode, ErrorClass>> = {
  invalid_request: BadRequestError,
  unauthorized: UnauthorizedError,
  forbidden: ForbiddenError,
  not_found: NotFoundError,
  payload_too_large: PayloadTooLargeError,
  client_closed_request: BadRequestError,
  manifest_contention: UnavailableError,
  period_closing: UnavailableError,
  store_unavailable: UnavailableError,
  commit_outcome_unknown: UnavailableError,
  manifest_corrupt: ServerError,
  segment_corrupt: ServerError,
  unsupported_format: ServerError,
  store_unsafe: ServerError,
  store_refused: ServerError,
  internal: ServerError,
  misconfigured: ServerError,
};

const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

const BY_STATUS: Readonly<Record<number, ErrorClass>> = {
  400: BadRequestError,
  401: UnauthorizedError,
  403: ForbiddenError,
  404: NotFoundError,
  413: PayloadTooLargeError,
  429: RateLimitedError,
  502: BadGatewayError,
  503: UnavailableError,
  504: UnavailableError,
};

/**
 * The typed error of a non-2xx answer. A known `code` picks the class, else the status does
 * (other 5xx → ServerError, other 4xx → BadRequestError); `code` is `http_<status>` when the body
 * has none (a proxy's HTML page, say). A 429/502/503/504 always gives a retryable class.
 */
export function errorFromAnswer(status: number, body: unknown, requestId: string | undefined, retryAfterMs: number | undefined): UsageDbError {
  const e = errorFields(body);
  const init: ErrorInit = { code: e?.code ?? `http_${status}`, message: e?.message ?? `HTTP ${status}`, status, details: e?.details, requestId, retryAfterMs };
  const byStatus = BY_STATUS[status] ?? (status >= 500 ? ServerError : BadRequestError);
  const byCode = e !== undefined && Object.hasOwn(ERROR_CLASSES_BY_CODE, e.code) ? ERROR_CLASSES_BY_CODE[e.code as ErrorCode] : undefined;
  const err = new (byCode ?? byStatus)(init);
  // A 429/502/503/504 stays retryable whatever its code says (a proxy may reuse codes).
  return RETRYABLE_STATUSES.has(status) && !err.retryable ? new byStatus(init) : err;
}

function errorFields(body: unknown): { code: string; message: string; details?: Readonly<Record<string, unknown>> } | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, message, details } = error as { code?: unknown; message?: unknown; details?: unknown };
  if (typeof code !== 'string') return undefined;
  return {
    code,
    message: typeof message === 'string' ? message : code,
    ...(typeof details === 'object' && details !== null && !Array.isArray(details) ? { details: details as Record<string, unknown> } : {}),
  };
}

export function isUsageDbError(err: unknown): err is UsageDbError {
  return err instanceof UsageDbError;
}
