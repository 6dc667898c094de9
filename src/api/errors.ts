/**
 * The one place typed errors become HTTP: `{error: {code, message, details?}}` with a stable
 * code. Unknown errors are 500 with a generic message; stacks and causes never leave the server.
 */
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { isUsageDbError, ValidationError, type UsageDbError } from '../errors.ts';

export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly details?: unknown };
}

const STATUS: Record<string, ContentfulStatusCode> = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  payload_too_large: 413,
  manifest_contention: 503,
  commit_outcome_unknown: 503,
  store_unavailable: 503,
  ambiguous_write: 503,
  precondition_failed: 503,
  conditional_conflict: 503,
  object_not_found: 503,
  store_refused: 502,
  manifest_corrupt: 503,
  unsupported_format: 503,
  store_unsafe: 503,
  segment_corrupt: 500,
};

export interface HttpError {
  readonly status: ContentfulStatusCode;
  readonly body: ErrorBody;
  readonly headers: Record<string, string>;
  /** An infrastructure fault (log it), not a caller mistake. */
  readonly fault: boolean;
}

export function toHttpError(err: unknown): HttpError {
  if (isUsageDbError(err)) {
    const status = STATUS[err.code] ?? 500;
    const headers: Record<string, string> = {};
    if (status === 503) headers['Retry-After'] = String(Math.max(1, Math.ceil(err.retryAfterSeconds ?? 1)));
    return { status, body: bodyOf(err), headers, fault: status >= 500 };
  }
  return {
    status: 500,
    body: { error: { code: 'internal', message: 'internal error' } },
    headers: {},
    fault: true,
  };
}

function bodyOf(err: UsageDbError): ErrorBody {
  return err.details === undefined
    ? { error: { code: err.code, message: err.message } }
    : { error: { code: err.code, message: err.message, details: err.details } };
}

export function errorBody(code: string, message: string, details?: unknown): ErrorBody {
  return details === undefined ? { error: { code, message } } : { error: { code, message, details } };
}

/**
 * The answer of an instance that could not start (Workers build it on the first request): a
 * configuration mistake is `misconfigured` (its message names the variable, never a secret); a
 * store that did not answer is a retryable 503; anything else stays in the logs.
 */
export function startFailure(err: unknown): HttpError {
  const retry = { 'Retry-After': '5' };
  if (err instanceof ValidationError) return { status: 500, body: errorBody('misconfigured', err.message), headers: {}, fault: true };
  if (isUsageDbError(err)) return { status: 503, body: errorBody('store_unavailable', `usageDb could not open its database: ${err.message}`), headers: retry, fault: true };
  return { status: 503, body: errorBody('unavailable', 'usageDb could not start; see the logs'), headers: retry, fault: true };
}
