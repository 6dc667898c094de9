/**
 * The route table the client calls through: method, path template, and the names of the query,
 * body and answer types in `types.ts`. The answer type of every helper is derived from here, and
 * `test/client/openapi-types.test.ts` checks each entry against the served /openapi.json.
 */
import type { QueryTypes, Schemas } from './types.ts';

export interface RouteSpec {
  readonly method: 'GET' | 'POST';
  /** OpenAPI path template, e.g. `/v1/accounts/{account_id}/usage`. */
  readonly path: string;
  /** Name of the query parameter type in `types.ts`. */
  readonly query?: keyof QueryTypes;
  /** Name of the JSON request body type (an OpenAPI component). */
  readonly body?: keyof Schemas;
  /** Name of the JSON answer type (an OpenAPI component), or `text` for a non-JSON answer. */
  readonly response: keyof Schemas | 'text' | 'json';
}

/** Keyed by the OpenAPI operationId. */
export const ROUTES = {
  health: { method: 'GET', path: '/health', response: 'Health' },
  metrics: { method: 'GET', path: '/metrics', response: 'text' },
  ingestBatch: { method: 'POST', path: '/v1/usage/batch', body: 'UsageBatch', response: 'IngestResult' },
  accountUsage: { method: 'GET', path: '/v1/accounts/{account_id}/usage', query: 'AccountUsageQuery', response: 'AccountUsage' },
  accountEvents: { method: 'GET', path: '/v1/accounts/{account_id}/usage/events', query: 'AccountEventsQuery', response: 'EventsPage' },
  explainUsage: { method: 'GET', path: '/v1/accounts/{account_id}/explain', query: 'RangeQuery', response: 'Explanation' },
  verifyAccount: { method: 'GET', path: '/v1/accounts/{account_id}/verify', query: 'RangeQuery', response: 'Verification' },
  queryJson: { method: 'POST', path: '/v1/query/json', body: 'JsonQuery', response: 'QueryAnswer' },
  querySql: { method: 'POST', path: '/v1/query/sql', body: 'SqlQuery', response: 'QueryAnswer' },
  closePeriod: { method: 'POST', path: '/v1/accounts/{account_id}/periods/{period}/close', body: 'PeriodAction', response: 'PeriodCloseResult' },
  reopenPeriod: { method: 'POST', path: '/v1/accounts/{account_id}/periods/{period}/reopen', body: 'PeriodAction', response: 'PeriodReopenResult' },
  getPeriod: { method: 'GET', path: '/v1/accounts/{account_id}/periods/{period}', response: 'PeriodView' },
  listPeriods: { method: 'GET', path: '/v1/accounts/{account_id}/periods', response: 'PeriodList' },
  runJob: { method: 'POST', path: '/v1/admin/jobs/{job}', query: 'RunJobQuery', response: 'JobReport' },
  listConflicts: { method: 'GET', path: '/v1/admin/conflicts', response: 'ConflictList' },
  resolveConflict: { method: 'POST', path: '/v1/admin/conflicts/{id}/resolve', body: 'ConflictResolve', response: 'ConflictResolution' },
  whoami: { method: 'GET', path: '/v1/whoami', response: 'Whoami' },
  adminStatus: { method: 'GET', path: '/v1/admin/status', response: 'AdminStatus' },
  accountEventRows: { method: 'GET', path: '/v1/accounts/{account_id}/usage/events/{event_id}', response: 'EventRows' },
  console: { method: 'GET', path: '/console', response: 'text' },
  consoleAsset: { method: 'GET', path: '/console/assets/{name}', response: 'text' },
  openapi: { method: 'GET', path: '/openapi.json', response: 'json' },
  docs: { method: 'GET', path: '/docs', response: 'text' },
} as const satisfies Record<string, RouteSpec>;

export type OperationId = keyof typeof ROUTES;

type ResponseName<K extends OperationId> = (typeof ROUTES)[K]['response'];

/** The decoded answer of an operation. */
export type ResponseOf<K extends OperationId> =
  ResponseName<K> extends keyof Schemas ? Schemas[ResponseName<K>] : ResponseName<K> extends 'text' ? string : Record<string, unknown>;

/** Fills `{name}` segments of a path template, each percent-encoded as one segment. */
export function fillPath(template: string, params: Readonly<Record<string, string>>): string {
  return template.replace(/\{([a-z_]+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new TypeError(`path parameter ${name} is missing`);
    return encodeURIComponent(value);
  });
}
