/**
 * Errors an ObjectStore driver throws. Drivers translate their backend's answers into these
 * so that nothing above the store layer ever inspects an HTTP status or an SDK error name.
 * Their codes other than `store_unavailable` and `store_refused` are internal: the commit loop
 * resolves them, and one that escapes reaches an HTTP client under its kind's public code.
 */
import { UsageDbError } from '../errors.ts';

export abstract class StoreError extends UsageDbError {}

/** A conditional write lost: `If-Match` no longer matches, or `If-None-Match: *` found an object (412). */
export class PreconditionFailedError extends StoreError {
  readonly code = 'precondition_failed';
  readonly kind = 'retryable';
}

/** A concurrent conditional write to the same key is in progress (409 ConditionalRequestConflict). */
export class ConflictError extends StoreError {
  readonly code = 'conditional_conflict';
  readonly kind = 'retryable';
}

/** The key does not exist where the operation needed it (e.g. `If-Match` on a missing key). */
export class ObjectNotFoundError extends StoreError {
  readonly code = 'object_not_found';
  readonly kind = 'retryable';
}

/**
 * The store did not answer usefully (5xx, 429, network) and the operation had no effect, or is
 * a read that may be retried. `throttled` asks for a longer backoff.
 */
export class TransientStoreError extends StoreError {
  readonly code = 'store_unavailable';
  readonly kind = 'retryable';
  readonly throttled: boolean;
  constructor(message: string, opts: { cause?: unknown; throttled?: boolean } = {}) {
    super(message, { cause: opts.cause, retryAfterSeconds: opts.throttled ? 2 : 1 });
    this.throttled = opts.throttled ?? false;
  }
}

/**
 * A write whose outcome is unknown: the body was sent and then the answer was lost (timeout,
 * reset, 5xx, 429). The write may have landed. Never treat it as failed without reading back.
 */
export class AmbiguousWriteError extends StoreError {
  readonly code = 'ambiguous_write';
  readonly kind = 'outcome_unknown';
  readonly throttled: boolean;
  constructor(message: string, opts: { cause?: unknown; throttled?: boolean } = {}) {
    super(message, { cause: opts.cause, retryAfterSeconds: 1 });
    this.throttled = opts.throttled ?? false;
  }
}

/** A write rejected because its precondition did not hold (412, 409 or 404 on `If-Match`). */
export function isRejectedWrite(err: unknown): err is PreconditionFailedError | ConflictError | ObjectNotFoundError {
  return err instanceof PreconditionFailedError || err instanceof ConflictError || err instanceof ObjectNotFoundError;
}

/** The store refused the request outright (credentials, permissions, missing bucket, bad request). */
export class StoreRefusedError extends StoreError {
  readonly code = 'store_refused';
  readonly kind = 'fatal';
}
