/**
 * The one place errors become HTTP: `{error: {code, message, details?}}`. The status follows from
 * the error's kind (a user error declares its own 4xx) and the code is always one of
 * PUBLIC_ERROR_CODES. A user error's message is the answer; any other error is answered with its
 * code's generic message, while its own message (object keys), internal code and causes go to
 * the log with the request id (`logFieldsOf`). Stacks never leave the server.
 */
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { isUsageDbError, RequestAbortedError, UserError, ValidationError, type ErrorKind, type UsageDbError } from '../errors.ts';
import type { LogFields } from './observability.ts';

/**
 * Every code an HTTP client can receive: the README error table and the OpenAPI error schema
 * list exactly these (test/api/errors.test.ts holds them together). Any other code is mapped to
 * one of these by its kind (`publicCodeOf`).
 */
export const PUBLIC_ERROR_CODES = [
  // user: the error's own message is the answer
  'invalid_request',
  'unauthorized',
  'forbidden',
  'not_found',
  'payload_too_large',
  'client_closed_request',
  // retryable and outcome_unknown: 503 + Retry-After
  'manifest_contention',
  'period_closing',
  'store_unavailable',
  'commit_outcome_unknown',
  // fatal: 500
  'manifest_corrupt',
  'segment_corrupt',
  'unsupported_format',
  'store_unsafe',
  'store_refused',
  'internal',
  // a Worker whose configuration is invalid (500, with the configuration message)
  'misconfigured',
] as const;
export type PublicErrorCode = (typeof PUBLIC_ERROR_CODES)[number];

type UserCode = 'invalid_request' | 'unauthorized' | 'forbidden' | 'not_found' | 'payload_too_large' | 'client_closed_request';
type ServerCode = Exclude<PublicErrorCode, UserCode | 'misconfigured'>;

/** What a client is told for a server-side error: nothing of the error's own message or cause. */
export const SERVER_MESSAGES: Readonly<Record<ServerCode, string>> = {
  manifest_contention: 'the shard is busy with concurrent commits and this one gave up; nothing was committed; retry after Retry-After seconds',
  period_closing:
    'a correction or retraction of this request falls in a billing period whose close is in progress; retry the same request after Retry-After seconds (it then becomes a pending adjustment)',
  store_unavailable: 'the object store did not answer; retry after Retry-After seconds',
  commit_outcome_unknown: 'the commit may or may not have landed; retry the same request after Retry-After seconds (a retry is idempotent)',
  manifest_corrupt: 'a shard manifest is unreadable, so the shard refuses requests until an operator restores it',
  segment_corrupt: 'a stored segment failed verification; an operator must repair it',
  unsupported_format: 'the database was written by a newer usageDb; this instance must be upgraded',
  store_unsafe: 'the object store does not honour conditional writes, so writes are refused',
  store_refused: 'the object store refused the request (credentials, permissions or bucket); an operator must fix the configuration',
  internal: 'internal error; the server logs have the details under this request id',
};

/** The status of every kind but `user`, whose errors declare their own. */
export const KIND_STATUS = { retryable: 503, outcome_unknown: 503, fatal: 500 } as const satisfies Record<Exclude<ErrorKind, 'user'>, ContentfulStatusCode>;

export interface ErrorBody {
  readonly error: { readonly code: PublicErrorCode; readonly message: string; readonly details?: unknown };
}

export interface HttpError {
  readonly status: ContentfulStatusCode;
  readonly body: ErrorBody;
  readonly headers: Record<string, string>;
  /** `user`: the caller's (not logged as a fault); anything else is the server's. */
  readonly kind: ErrorKind;
}

export function isPublicErrorCode(code: string): code is PublicErrorCode {
  return (PUBLIC_ERROR_CODES as readonly string[]).includes(code);
}

/**
 * The public code of an error. Store-internal codes never leave: `ambiguous_write` (and any
 * other outcome-unknown code) becomes `commit_outcome_unknown`; `precondition_failed`,
 * `conditional_conflict`, `object_not_found` (and any other retryable code) `store_unavailable`.
 */
export function publicCodeOf(err: UsageDbError): PublicErrorCode {
  if (isPublicErrorCode(err.code)) return err.code;
  switch (err.kind) {
    case 'user':
      return 'invalid_request';
    case 'retryable':
      return 'store_unavailable';
    case 'outcome_unknown':
      return 'commit_outcome_unknown';
    case 'fatal':
      return 'internal';
  }
}

export function toHttpError(err: unknown): HttpError {
  if (!isUsageDbError(err)) return { status: 500, body: errorBody('internal', SERVER_MESSAGES.internal), headers: {}, kind: 'fatal' };
  const code = publicCodeOf(err);
  if (err instanceof UserError)
    return { status: err.status as ContentfulStatusCode, body: errorBody(code, err.message, err.details), headers: {}, kind: 'user' };
  const kind = err.kind === 'user' ? 'fatal' : err.kind; // a user kind outside UserError has no status: a bug, so a fault
  const message = code in SERVER_MESSAGES ? SERVER_MESSAGES[code as ServerCode] : SERVER_MESSAGES.internal;
  const headers: Record<string, string> = {};
  if (kind !== 'fatal') headers['Retry-After'] = String(Math.max(1, Math.ceil(err.retryAfterSeconds ?? 1)));
  return { status: KIND_STATUS[kind], body: errorBody(code, message), headers, kind };
}

/** What the log gets about an error the client saw as `http`: everything the answer left out. */
export function logFieldsOf(err: unknown, http: HttpError): LogFields {
  const fields: Record<string, unknown> = { code: http.body.error.code, kind: http.kind, status: http.status };
  if (!(err instanceof Error)) return { ...fields, error: String(err) };
  if (isUsageDbError(err) && err.code !== http.body.error.code) fields.internal_code = err.code;
  fields.error = err.message;
  const causes: string[] = [];
  for (let c: unknown = err.cause; c !== undefined && causes.length < 5; c = c instanceof Error ? c.cause : undefined) {
    causes.push(c instanceof Error ? `${c.name}: ${c.message}` : String(c));
  }
  if (causes.length > 0) fields.cause = causes.join(' <- ');
  if (!isUsageDbError(err) && err.stack !== undefined) fields.stack = err.stack;
  return fields;
}

/** What the runtime knows of the request's connection when a handler failed. */
export interface ConnectionState {
  /** The connection closed before the answer was sent (the request's abort signal fired). */
  readonly clientGone: boolean;
  /** The HTTP parser's error on the connection, where the runtime exposes it (Node: `HPE_*`). */
  readonly parserErrorCode?: string | undefined;
}

/**
 * Reading a body fails when the client goes away mid-request or sends chunked framing the HTTP
 * parser refuses (Node answers that 400 itself and closes the connection; the handler sees the
 * same "aborted" ECONNRESET). Neither is a server fault: a refused framing is `invalid_request`
 * 400, anything else on a broken connection `client_closed_request` 499. Typed errors stay as
 * they are: a store fault while the client waits is still a fault.
 */
export function connectionErrorOf(err: unknown, conn: ConnectionState): unknown {
  if (isUsageDbError(err) || !(conn.clientGone || isIncomingAborted(err))) return err;
  const parser = conn.parserErrorCode;
  // EOF in the middle of a body is a client that went away, not a malformed one.
  if (parser?.startsWith('HPE_') && parser !== 'HPE_INVALID_EOF_STATE') {
    return new ValidationError(`body: malformed HTTP framing (${parser})`, 'body');
  }
  return new RequestAbortedError('the client closed the connection before the request was answered', { cause: err });
}

/** Node's error for a request body whose connection closed (`IncomingMessage` "aborted"). */
function isIncomingAborted(err: unknown): boolean {
  const code = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE';
}

/**
 * A runtime's answer when its services could not start (a Worker starts them on a request): a
 * configuration mistake is `misconfigured` with its message (it names the variable, never a
 * secret's value); anything else maps as on a request.
 */
export function startFailure(err: unknown): HttpError {
  if (err instanceof ValidationError) return { status: 500, body: errorBody('misconfigured', err.message), headers: {}, kind: 'fatal' };
  return toHttpError(err);
}

export function errorBody(code: PublicErrorCode, message: string, details?: unknown): ErrorBody {
  return details === undefined ? { error: { code, message } } : { error: { code, message, details } };
}
