/**
 * `usagedb/client`: the typed HTTP client of usageDb. Uses nothing but web-standard globals (fetch,
 * Request, AbortController, crypto.getRandomValues, setTimeout) and imports nothing outside this
 * folder, so it runs on Node, Workers, Deno and browsers. This module only re-exports.
 */
export { UsageDbClient, type UsageDbClientOptions } from './client.ts';
export type { UsageEventInput } from './batching.ts';
export type { CallOptions, FetchLike } from './http.ts';
export type { EventOutcome, IngestReport, OutcomeStatus } from './ingest.ts';
export { DEFAULT_RETRY, parseRetryAfter, type RetryPolicy, type Sleep } from './retry.ts';
export { ROUTES, type OperationId, type ResponseOf, type RouteSpec } from './routes.ts';
export type { Tracker, TrackerOptions } from './tracker.ts';
export { isUlid, ulid, ulidFactory, ulidTime, type UlidOptions } from './ulid.ts';
export {
  AbortError,
  BadGatewayError,
  BadRequestError,
  BufferFullError,
  ERROR_CLASSES_BY_CODE,
  EventsRejectedError,
  ForbiddenError,
  InvalidArgumentError,
  isUsageDbError,
  NetworkError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  ServerError,
  TimeoutError,
  TrackerClosedError,
  UnauthorizedError,
  UnavailableError,
  UnexpectedResponseError,
  UsageDbError,
  type ErrorInit,
  type IngestProgress,
} from './errors.ts';
export type * from './types.ts';
