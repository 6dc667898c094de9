/**
 * The typed error hierarchy shared by every layer. Each error has a stable `code`;
 * `src/api/errors.ts` is the only place that maps codes to HTTP. Messages never carry
 * secrets or stack traces: they are shown to API callers as they are.
 */

export interface ErrorDetails {
  readonly [key: string]: unknown;
}

export abstract class UsageDbError extends Error {
  abstract readonly code: string;
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

/** The caller can fix it (bad input, unknown route, limits). Never reported as a fault. */
export abstract class UserError extends UsageDbError {}

export class ValidationError extends UserError {
  readonly code = 'invalid_request';
  readonly field: string | undefined;
  constructor(message: string, field?: string, details?: ErrorDetails) {
    super(message, { details: field === undefined ? details : { field, ...details } });
    this.field = field;
  }
}

export class NotFoundError extends UserError {
  readonly code = 'not_found';
}

export class PayloadTooLargeError extends UserError {
  readonly code = 'payload_too_large';
}

/** The manifest of a shard is unreadable or fails its schema: the shard refuses writes. */
export class ManifestCorruptError extends UsageDbError {
  readonly code = 'manifest_corrupt';
}

/** Too many lost races or too much throttling for one commit within its bounds. */
export class ManifestContentionError extends UsageDbError {
  readonly code = 'manifest_contention';
}

/**
 * A commit whose PUT may or may not have landed, and reading back could not decide.
 * Nothing was published or deleted; the caller must retry the whole operation (idempotently).
 */
export class CommitOutcomeUnknownError extends UsageDbError {
  readonly code = 'commit_outcome_unknown';
}

/** The configured store does not honour conditional writes, so commits would be unsafe. */
export class StoreUnsafeError extends UsageDbError {
  readonly code = 'store_unsafe';
}

/** A manifest written by a newer version of usageDb: committing it would drop what we do not know. */
export class UnsupportedFormatError extends UsageDbError {
  readonly code = 'unsupported_format';
}

export function isUsageDbError(err: unknown): err is UsageDbError {
  return err instanceof UsageDbError;
}

export class UnauthorizedError extends UserError {
  readonly code = 'unauthorized';
}

export class ForbiddenError extends UserError {
  readonly code = 'forbidden';
}
