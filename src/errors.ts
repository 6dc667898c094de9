/**
 * The typed error hierarchy shared by every layer. Each error has a stable `code` and a `kind`
 * that says whose fault it is and what retrying does; `src/api/errors.ts` maps the kind (and a
 * user error's own status) to HTTP, `src/cli/cli.ts` to exit codes. Only a user error's message is
 * meant for the caller; every other message may name object keys and stays in the logs.
 */

export interface ErrorDetails {
  readonly [key: string]: unknown;
}

/**
 * - `user`: the caller's mistake (bad input, no key, not found, too large, went away); retrying
 *   the same request fails the same way. 4xx with the status the error declares.
 * - `retryable`: nothing happened (contention, store unavailable or throttled); retry after
 *   Retry-After. 503.
 * - `outcome_unknown`: a write may or may not have landed; retry the same request, which is
 *   idempotent. 503.
 * - `fatal`: a server-side fault retrying will not fix soon (corrupt manifest or segment, newer
 *   format, unsafe store, store refusing credentials or bucket); an operator must act. 500.
 */
export type ErrorKind = 'user' | 'retryable' | 'outcome_unknown' | 'fatal';

export abstract class UsageDbError extends Error {
  abstract readonly code: string;
  abstract readonly kind: ErrorKind;
  /** Seconds a caller should wait before retrying, when retrying makes sense. */
  readonly retryAfterSeconds: number | undefined;
  readonly details: ErrorDetails | undefined;

  constructor(message: string, opts: { cause?: unknown; details?: ErrorDetails; retryAfterSeconds?: number } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.details = opts.details;
    this.retryAfterSeconds = opts.retryAfterSeconds;
  }
}

/** 4xx statuses a user error may declare; 499 is nginx's "client closed request". */
export type UserErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 499;

/** The caller can fix it (bad input, unknown route, limits). Never reported as a fault. */
export abstract class UserError extends UsageDbError {
  readonly kind = 'user';
  /** The HTTP status of this mistake; every other kind's status follows from the kind. */
  abstract readonly status: UserErrorStatus;
}

export class ValidationError extends UserError {
  readonly code = 'invalid_request';
  readonly status = 400;
  readonly field: string | undefined;
  constructor(message: string, field?: string, details?: ErrorDetails) {
    super(message, { details: field === undefined ? details : { field, ...details } });
    this.field = field;
  }
}

export class NotFoundError extends UserError {
  readonly code = 'not_found';
  readonly status = 404;
}

/**
 * A generation history cannot rebuild: an edit record in its chain, or the full copy the chain
 * starts from, is missing or unreadable (`details.missing` names the generations). Not found, as
 * far as the caller can tell: another generation may be restorable; nothing was changed.
 */
export class HistoryIncompleteError extends NotFoundError {
  override readonly code = 'not_found';
}

export class PayloadTooLargeError extends UserError {
  readonly code = 'payload_too_large';
  readonly status = 413;
}

export class UnauthorizedError extends UserError {
  readonly code = 'unauthorized';
  readonly status = 401;
}

export class ForbiddenError extends UserError {
  readonly code = 'forbidden';
  readonly status = 403;
}

/**
 * The client closed the connection before its request body arrived: nobody reads the answer,
 * nothing was done, and it is not a server fault (logged at info, counted as 499).
 */
export class RequestAbortedError extends UserError {
  readonly code = 'client_closed_request';
  readonly status = 499;
}

/** The manifest of a shard is unreadable or fails its schema: the shard refuses writes. */
export class ManifestCorruptError extends UsageDbError {
  readonly code = 'manifest_corrupt';
  readonly kind = 'fatal';
}

/**
 * Replaying history did not reproduce what was committed (a record out of its chain, an edit
 * that no longer applies, a digest that differs): the rebuilt manifest is refused, never used.
 */
export class HistoryMismatchError extends ManifestCorruptError {
  override readonly code = 'manifest_corrupt';
}

/** Too many lost races or too much throttling for one commit within its bounds. */
export class ManifestContentionError extends UsageDbError {
  readonly code = 'manifest_contention';
  readonly kind = 'retryable';
}

/**
 * A Correction or Retraction for a period whose close is in progress (fenced): it would change
 * the totals being frozen, so it waits; once closed, it becomes a pending adjustment.
 */
export class PeriodClosingError extends UsageDbError {
  readonly code = 'period_closing';
  readonly kind = 'retryable';
}

/**
 * A commit whose PUT may or may not have landed, and reading back could not decide.
 * Nothing was published or deleted; the caller must retry the whole operation (idempotently).
 */
export class CommitOutcomeUnknownError extends UsageDbError {
  readonly code = 'commit_outcome_unknown';
  readonly kind = 'outcome_unknown';
}

/** The configured store does not honour conditional writes, so commits would be unsafe. */
export class StoreUnsafeError extends UsageDbError {
  readonly code = 'store_unsafe';
  readonly kind = 'fatal';
}

/** A manifest written by a newer version of usageDb: committing it would drop what we do not know. */
export class UnsupportedFormatError extends UsageDbError {
  readonly code = 'unsupported_format';
  readonly kind = 'fatal';
}

export function isUsageDbError(err: unknown): err is UsageDbError {
  return err instanceof UsageDbError;
}

/** An error as data, for answers that cross an RPC boundary (a shard's sequencer) without its class. */
export interface ErrorWire {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly message: string;
  readonly retryAfterSeconds?: number;
  readonly details?: ErrorDetails;
}

export function errorToWire(err: unknown): ErrorWire {
  if (!isUsageDbError(err)) return { code: 'internal', kind: 'fatal', message: err instanceof Error ? err.message : String(err) };
  return {
    code: err.code,
    kind: err.kind,
    message: err.message,
    ...(err.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: err.retryAfterSeconds }),
    ...(err.details === undefined ? {} : { details: err.details }),
  };
}

/**
 * An error another instance answered (a shard's sequencer): its code and kind as sent. A `user`
 * kind there is this side's fault (it sent what the other side refused), so it counts as fatal.
 */
export class ForwardedError extends UsageDbError {
  readonly code: string;
  readonly kind: Exclude<ErrorKind, 'user'>;
  constructor(w: ErrorWire, opts: { cause?: unknown } = {}) {
    super(w.message, {
      ...opts,
      ...(w.details === undefined ? {} : { details: w.details }),
      ...(w.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: w.retryAfterSeconds }),
    });
    this.code = w.code;
    this.kind = w.kind === 'user' ? 'fatal' : w.kind;
  }
}
