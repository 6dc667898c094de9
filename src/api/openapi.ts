/**
 * The OpenAPI 3.1 document of the HTTP API, built from the zod schemas (`schemas.ts`,
 * `usageEventInput`) with zod's own JSON Schema (draft 2020-12) output. Every route the app serves
 * has one operation here; `test/api/openapi.test.ts` fails when a route is added without one,
 * validates the document, and replays every example request against a real app. The security of
 * each operation comes from `scopeFor`, so the document and the auth middleware cannot disagree.
 */
import { z } from 'zod';
import { usageEventInput } from '../model/event-schema.ts';
import { encodeCursor } from '../query/audit.ts';
import { scopeFor, type Scope } from './auth.ts';
import { SERVER_MESSAGES } from './errors.ts';
import * as S from './schemas.ts';
import { CONSOLE_COMPONENTS, CONSOLE_OPERATIONS } from './console/openapi-ops.ts';

export type JsonObject = Record<string, unknown>;

export const OPENAPI_VERSION = '3.1.0';
/** The API version (kept equal to package.json's by a test). */
export const API_VERSION = '0.1.0';

/** Named schemas under `#/components/schemas`; nested uses become `$ref`s. */
const COMPONENTS = {
  ErrorBody: S.errorBody,
  Health: S.healthResponse,
  UsageEvent: usageEventInput,
  UsageBatch: S.usageBatchRequest,
  IngestResult: S.ingestResult,
  ResultLine: S.resultLine,
  AuditRow: S.auditRow,
  AccountUsage: S.usageResponse,
  EventsPage: S.eventsPage,
  Explanation: S.explanation,
  JsonQuery: S.jsonQueryRequest,
  SqlQuery: S.sqlQueryRequest,
  QueryAnswer: S.queryAnswer,
  PeriodAction: S.periodActionRequest,
  PeriodView: S.periodView,
  PeriodCloseResult: S.periodCloseResponse,
  PeriodReopenResult: S.periodReopenResponse,
  PeriodList: S.periodList,
  Verification: S.verification,
  JobReport: S.jobReport,
  ConflictList: S.conflictList,
  Conflict: S.conflict,
  ConflictResolve: S.conflictResolveRequest,
  ConflictResolution: S.conflictResolution,
  ...CONSOLE_COMPONENTS,
} satisfies Record<string, z.ZodType>;

const ref = (name: keyof typeof COMPONENTS): JsonObject => ({ $ref: `#/components/schemas/${name}` });

function componentSchemas(): Record<string, JsonObject> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(COMPONENTS)) registry.add(schema, { id });
  const out = z.toJSONSchema(registry, { target: 'draft-2020-12', io: 'input', uri: (id) => `#/components/schemas/${id}` });
  const schemas: Record<string, JsonObject> = {};
  for (const [id, schema] of Object.entries(out.schemas)) {
    // Inside an OpenAPI document the dialect is jsonSchemaDialect and the location is the pointer.
    const { $schema: _dialect, $id: _id, ...rest } = schema as JsonObject;
    schemas[id] = rest;
  }
  return schemas;
}

// ---------------------------------------------------------------------------------------------
// Examples

const ACCOUNT = 'acct_42';
const PERIOD = '2026-01';
const FROM = '2026-01-01T00:00:00Z';
const TO = '2026-02-01T00:00:00Z';
const FROM_MS = Date.UTC(2026, 0, 1);
const TO_MS = Date.UTC(2026, 1, 1);
const FROM_ISO = new Date(FROM_MS).toISOString();
const TO_ISO = new Date(TO_MS).toISOString();

const EXAMPLE_EVENT = {
  event_id: 'evt_0001',
  account_id: ACCOUNT,
  product_id: 'chat',
  meter_id: 'tokens.output',
  model_id: 'model-a',
  source: 'api',
  unit: 'tokens',
  timestamp_ms: FROM_MS + 3_600_000,
  quantity: 1250,
  dimensions: { region: 'eu' },
};

const EXAMPLE_ROW = {
  ...EXAMPLE_EVENT,
  kind: 'Usage',
  correction_ref: null,
  subscription_id: null,
  quantity: '1250',
  ingested_at_ms: FROM_MS + 3_600_250,
  segment_id: '01KD7ZK3Q8XW0M2V9T4N6B8C1D',
};

const EXAMPLE_CORRECTION_ROW = {
  ...EXAMPLE_ROW,
  event_id: 'evt_0002',
  kind: 'Correction',
  correction_ref: { original_event_id: 'evt_0001', reason: 'double-counted retry' },
  timestamp_ms: FROM_MS + 7_200_000,
  quantity: '-250',
  ingested_at_ms: FROM_MS + 7_200_180,
};

const INVOICE_LINE = { product_id: 'chat', meter_id: 'tokens.output', model_id: 'model-a', source: 'api', unit: 'tokens', quantity: '1250', count: 1 };

const HISTORY_CLOSE = { action: 'close', at_ms: TO_MS + 86_400_000, reason: 'January invoice', actor: 'ops', at: new Date(TO_MS + 86_400_000).toISOString() };
const HISTORY_REOPEN = { action: 'reopen', at_ms: TO_MS + 90_000_000, reason: 'late correction', actor: 'ops', at: new Date(TO_MS + 90_000_000).toISOString() };

const CLOSED_VIEW = {
  account_id: ACCOUNT,
  period: PERIOD,
  state: 'closed',
  closed_at: HISTORY_CLOSE.at,
  generation: 7,
  source_segments: ['01KD7ZK3Q8XW0M2V9T4N6B8C1D'],
  frozen: {
    quantity: '1250',
    event_count: 1,
    lines: [{ product_id: 'chat', meter_id: 'tokens.output', model_id: 'model-a', unit: 'tokens', quantity: '1250', count: 1 }],
  },
  pending_adjustments: [],
  adjustments_quantity: '0',
  net_total: '1250',
  history: [HISTORY_CLOSE],
};

const OPEN_VIEW = {
  account_id: ACCOUNT,
  period: PERIOD,
  state: 'open',
  live: { quantity: '1250', event_count: 1 },
  net_total: '1250',
  history: [HISTORY_CLOSE, HISTORY_REOPEN],
};

const METRICS_TEXT = [
  '# HELP usagedb_http_requests_total HTTP requests by route and status.',
  '# TYPE usagedb_http_requests_total counter',
  'usagedb_http_requests_total{method="POST",route="/v1/usage/batch",status="200"} 1',
  '',
].join('\n');

// ---------------------------------------------------------------------------------------------
// Operations

type Method = 'get' | 'post';
type ErrorStatus = 400 | 401 | 403 | 404 | 413 | 500 | 503;

interface Example {
  readonly summary: string;
  readonly value: unknown;
}

interface Media {
  readonly schema: JsonObject;
  readonly examples: Readonly<Record<string, Example>>;
}

interface ParamSpec {
  readonly name: string;
  readonly in: 'path' | 'query';
  readonly required?: boolean;
  readonly description: string;
  readonly schema: JsonObject;
  readonly example?: unknown;
}

export interface OpSpec {
  readonly method: Method;
  readonly path: string;
  readonly operationId: string;
  readonly tag: string;
  readonly summary: string;
  readonly description: string;
  readonly params?: readonly ParamSpec[];
  readonly body?: { readonly required: boolean; readonly description: string; readonly content: Readonly<Record<string, Media>> };
  readonly ok: { readonly description: string; readonly content: Readonly<Record<string, Media>> };
  /** Other success-shaped answers (e.g. /health's 503). */
  readonly extra?: Readonly<Record<string, { readonly description: string; readonly content: Readonly<Record<string, Media>> }>>;
  /** Error statuses with route-specific examples (an empty object: the generic example). */
  readonly errors: Partial<Record<ErrorStatus, Readonly<Record<string, Example>>>>;
  /** Reads or writes the object store (adds 500 and 503). */
  readonly store: boolean;
  readonly securityNote?: string;
}

const err = (code: string, message: string, details?: Record<string, unknown>): { error: JsonObject } => ({
  error: details === undefined ? { code, message } : { code, message, details },
});

const ERROR_TEXT: Record<ErrorStatus, { description: string; example: Example }> = {
  400: {
    description: 'invalid_request: a bad parameter or body; the message and details.field name it.',
    example: { summary: 'A missing parameter', value: err('invalid_request', 'from: is required (RFC 3339, e.g. 2026-01-01T00:00:00Z)', { field: 'from' }) },
  },
  401: {
    description: 'unauthorized: no Authorization header, or an unknown API key (only when API keys are configured).',
    example: { summary: 'No API key', value: err('unauthorized', 'authorization: send "Authorization: Bearer <api key>"') },
  },
  403: {
    description: 'forbidden: the API key lacks the scope this route needs.',
    example: { summary: 'Missing scope', value: err('forbidden', 'authorization: the key "reader" lacks the "admin" scope this route needs') },
  },
  404: {
    description: 'not_found.',
    example: { summary: 'Not found', value: err('not_found', 'no route for GET /v1/nope') },
  },
  413: {
    description:
      'payload_too_large: the body is over the limit of its route (ingest USAGEDB_MAX_BODY_BYTES, 8 MiB; every other route USAGEDB_MAX_REQUEST_BYTES, 64 KiB), or the batch has too many events. Sent before the body was read when the Content-Length says so; on Node an answer given before the body arrived carries Connection: close.',
    example: {
      summary: 'Body over the limit',
      value: err('payload_too_large', 'body: larger than 8388608 bytes, the limit of this route', { field: 'body', limit: 8_388_608 }),
    },
  },
  500: {
    description:
      'A server fault retrying will not fix soon (manifest_corrupt, segment_corrupt, unsupported_format, store_unsafe, store_refused, internal): an operator must act. The message is generic; the server log has the details under the X-Request-Id.',
    example: { summary: 'Store refused', value: err('store_refused', SERVER_MESSAGES.store_refused) },
  },
  503: {
    description:
      'The object store is unavailable, or a commit lost too many races or has an unknown outcome (manifest_contention, commit_outcome_unknown, store_unavailable, ...). Nothing of a failed write is acknowledged: retry the same request after Retry-After seconds.',
    example: { summary: 'Commit contention', value: err('manifest_contention', SERVER_MESSAGES.manifest_contention) },
  },
};

const json = (schema: JsonObject, examples: Record<string, Example>): Record<string, Media> => ({ 'application/json': { schema, examples } });

/** The 413 of every route but ingest (USAGEDB_MAX_REQUEST_BYTES). */
const REQUEST_413 = {
  body: {
    summary: 'Body over 64 KiB',
    value: err('payload_too_large', 'body: larger than 65536 bytes, the limit of this route', { field: 'body', limit: 65_536 }),
  },
};
const UNKNOWN_FIELD = (field: string, known: string) => ({
  unknownField: {
    summary: 'Unknown field',
    value: err('invalid_request', `${field}: unknown field; known fields: ${known}`, { field, unknown_fields: [field] }),
  },
});

const accountParam: ParamSpec = {
  name: 'account_id',
  in: 'path',
  required: true,
  description: 'The account: 1-256 characters without control characters (URL-encode it).',
  schema: { type: 'string', minLength: 1, maxLength: 256 },
  example: ACCOUNT,
};
const periodParam: ParamSpec = {
  name: 'period',
  in: 'path',
  required: true,
  description: 'A billing period: the UTC calendar month YYYY-MM.',
  schema: { type: 'string', pattern: '^\\d{4}-\\d{2}$' },
  example: PERIOD,
};
const fromParam: ParamSpec = {
  name: 'from',
  in: 'query',
  required: true,
  description: 'Start of the range (inclusive): RFC 3339 (UTC offsets allowed) or a date YYYY-MM-DD (midnight UTC).',
  schema: { type: 'string' },
  example: FROM,
};
const toParam: ParamSpec = {
  name: 'to',
  in: 'query',
  required: true,
  description: 'End of the range (exclusive), after from; the range is at most 400 days.',
  schema: { type: 'string' },
  example: TO,
};
const listFilter = (name: string, example: string): ParamSpec => ({
  name,
  in: 'query',
  description: `Only events whose ${name} is this value (or one of a comma-separated list).`,
  schema: { type: 'string' },
  example,
});

const PERIOD_ACTION_BODY = {
  required: false,
  description: 'Optional: `{"reason": "..."}` (at most 1024 characters), kept in the period history. An empty body is fine.',
  content: json(ref('PeriodAction'), { reason: { summary: 'With a reason', value: { reason: 'January invoice' } } }),
};
const PERIOD_400 = {
  badPeriod: { summary: 'Not a month', value: err('invalid_request', 'period: "2026-13" is not a month; use YYYY-MM (e.g. 2026-01)', { field: 'period' }) },
};
const SQL_EXAMPLE =
  "SELECT meter_id, SUM(quantity), COUNT(*) FROM usage_events WHERE account_id = 'acct_42' AND timestamp_ms >= " +
  `${FROM_MS} AND timestamp_ms < ${TO_MS} GROUP BY meter_id ORDER BY SUM(quantity) DESC LIMIT 10`;

const OPERATIONS: readonly OpSpec[] = [
  {
    method: 'get',
    path: '/health',
    operationId: 'health',
    tag: 'system',
    summary: 'Health check',
    description: 'Reads db.json from the store within the health timeout (3 s by default). 503 with status degraded when the store does not answer.',
    ok: {
      description: 'The store answered.',
      content: json(ref('Health'), {
        ok: {
          summary: 'Healthy',
          value: {
            status: 'ok',
            store: { kind: 's3', ok: true, latency_ms: 12 },
            writable: true,
            database: { db_id: '01KD7ZK0000000000000000000', shards: 16, buckets: 256 },
          },
        },
      }),
    },
    extra: {
      '503': {
        description: 'The store did not answer (status degraded).',
        content: json(ref('Health'), {
          degraded: {
            summary: 'Store unreachable',
            value: {
              status: 'degraded',
              store: { kind: 's3', ok: false, latency_ms: 3001, problem: 'no answer in 3000 ms' },
              writable: true,
              database: { db_id: '01KD7ZK0000000000000000000', shards: 16, buckets: 256 },
            },
          },
        }),
      },
    },
    errors: {},
    store: false,
  },
  {
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    tag: 'system',
    summary: 'Prometheus metrics',
    description: 'Request counts and latencies, commit counters per shard, and cache statistics in the Prometheus text format.',
    securityNote: 'Needs the admin scope unless the server runs with public metrics (then no key is needed).',
    ok: {
      description: 'Prometheus text exposition format 0.0.4.',
      content: { 'text/plain': { schema: { type: 'string' }, examples: { sample: { summary: 'A few lines', value: METRICS_TEXT } } } },
    },
    errors: { 401: {}, 403: {} },
    store: false,
  },
  {
    method: 'post',
    path: '/v1/usage/batch',
    operationId: 'ingestBatch',
    tag: 'ingest',
    summary: 'Ingest a batch of usage events',
    description:
      'Validates every event, deduplicates on event_id (7 days on the server clock) and answers only after the commits that list the accepted events succeeded. Same event_id + same payload: duplicate; different payload: conflict. A Usage event in a closed period is rejected (period_closed); send a Correction instead. On 500/503 nothing of the failed shards is acknowledged: retry the same batch.',
    body: {
      required: true,
      description: '`{"events": [...]}`: at most 10,000 events and 8 MiB.',
      content: json(ref('UsageBatch'), {
        usage: { summary: 'One usage event', value: { events: [EXAMPLE_EVENT] } },
        correction: {
          summary: 'A correction with a 128-bit quantity as a decimal string',
          value: {
            events: [
              {
                ...EXAMPLE_EVENT,
                event_id: 'evt_0002',
                kind: 'Correction',
                correction_ref: { original_event_id: 'evt_0001', reason: 'double-counted retry' },
                timestamp_ms: FROM_MS + 7_200_000,
                quantity: '-250',
              },
            ],
          },
        },
      }),
    },
    ok: {
      description: 'Every event counted once: accepted, duplicate, conflict or rejected.',
      content: json(ref('IngestResult'), {
        accepted: { summary: 'Accepted', value: { accepted: 1, duplicates: 0, conflicts: 0, rejected: 0, errors: [] } },
        mixed: {
          summary: 'A duplicate and a rejected event',
          value: {
            accepted: 1,
            duplicates: 1,
            conflicts: 0,
            rejected: 1,
            errors: [{ index: 2, event_id: 'evt_0003', reason: 'quantity: must be an integer' }],
          },
        },
      }),
    },
    errors: {
      400: {
        noEvents: { summary: 'No events array', value: err('invalid_request', 'events: is required', { field: 'events' }) },
        badJson: { summary: 'Malformed JSON', value: err('invalid_request', 'body: is not valid JSON', { field: 'body' }) },
      },
      401: {},
      403: {},
      413: {
        body: ERROR_TEXT[413].example,
        events: {
          summary: 'Too many events',
          value: err('payload_too_large', 'events: 10001 events in one batch; at most 10000 are allowed', { field: 'events', limit: 10_000 }),
        },
      },
    },
    store: true,
  },
  {
    method: 'get',
    path: '/v1/accounts/{account_id}/usage',
    operationId: 'accountUsage',
    tag: 'query',
    summary: "An account's usage, grouped",
    description: 'Sums quantity and counts events of one account over [from, to), grouped by the given keys. Unknown query parameters are refused (400).',
    params: [
      accountParam,
      fromParam,
      toParam,
      {
        name: 'group_by',
        in: 'query',
        description:
          'Comma-separated group keys (at most 8): a column (subscription_id, product_id, meter_id, model_id, source, unit, kind), hour, day, month, or dim:<key>.',
        schema: { type: 'string' },
        example: 'meter_id,day',
      },
      listFilter('product_id', 'chat'),
      listFilter('meter_id', 'tokens.output'),
      listFilter('model_id', 'model-a'),
      {
        name: 'source',
        in: 'query',
        description: 'Data source: auto (default), raw or rollup.',
        schema: { type: 'string', enum: ['auto', 'raw', 'rollup'] },
        example: 'auto',
      },
    ],
    ok: {
      description: 'The usage lines.',
      content: json(ref('AccountUsage'), {
        byDay: {
          summary: 'Grouped by meter and day',
          value: {
            account_id: ACCOUNT,
            from: FROM_ISO,
            to: TO_ISO,
            source: 'auto',
            generation: 3,
            lines: [{ meter_id: 'tokens.output', day: FROM_ISO, quantity: '1250', count: 1, unit: 'tokens' }],
            quarantined_events: 0,
          },
        },
      }),
    },
    errors: {
      400: {
        missingFrom: ERROR_TEXT[400].example,
        unknownParam: {
          summary: 'Unknown parameter',
          value: err('invalid_request', 'group: unknown query parameter; allowed: from, to, group_by, product_id, meter_id, model_id, source', {
            field: 'group',
          }),
        },
      },
      401: {},
      403: {},
    },
    store: true,
  },
  {
    method: 'get',
    path: '/v1/accounts/{account_id}/usage/events',
    operationId: 'accountEvents',
    tag: 'query',
    summary: "An account's raw events (audit trail), paginated",
    description:
      'Stored events of one account in [from, to), in (timestamp_ms, event_id) order. The cursor names a position in that order, so it stays valid across compactions.',
    params: [
      accountParam,
      fromParam,
      toParam,
      listFilter('meter_id', 'tokens.output'),
      listFilter('product_id', 'chat'),
      {
        name: 'limit',
        in: 'query',
        description: 'Page size, 1 to 1000 (default 100).',
        schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
        example: 100,
      },
      {
        name: 'cursor',
        in: 'query',
        description: 'next_cursor of the previous page.',
        schema: { type: 'string' },
        example: encodeCursor({ ts: EXAMPLE_EVENT.timestamp_ms - 1, id: 'evt_0000' }),
      },
    ],
    ok: {
      description: 'One page of events.',
      content: json(ref('EventsPage'), {
        page: { summary: 'Last page', value: { account_id: ACCOUNT, from: FROM_ISO, to: TO_ISO, generation: 3, events: [EXAMPLE_ROW], next_cursor: null } },
      }),
    },
    errors: {
      400: {
        badLimit: { summary: 'Limit out of range', value: err('invalid_request', 'limit: must be an integer from 1 to 1000', { field: 'limit' }) },
        badCursor: { summary: 'Foreign cursor', value: err('invalid_request', 'cursor: is not a cursor this API returned', { field: 'cursor' }) },
      },
      401: {},
      403: {},
    },
    store: true,
  },
  {
    method: 'get',
    path: '/v1/accounts/{account_id}/explain',
    operationId: 'explainUsage',
    tag: 'query',
    summary: 'Explain an invoice: lines, corrections and provenance',
    description:
      'Usage by invoice line (product, meter, model, source, unit), the corrections and retractions listed apart, and the segments every number came from.',
    params: [accountParam, fromParam, toParam],
    ok: {
      description: 'The breakdown.',
      content: json(ref('Explanation'), {
        explain: {
          summary: 'One line and one correction',
          value: {
            account_id: ACCOUNT,
            from: FROM_ISO,
            to: TO_ISO,
            generation: 4,
            lines: [INVOICE_LINE],
            corrections: [EXAMPLE_CORRECTION_ROW],
            corrections_quantity: '-250',
            segments: [
              {
                id: '01KD7ZK3Q8XW0M2V9T4N6B8C1D',
                kind: 'raw',
                rows: 2,
                quantity: '1000',
                min_ts: EXAMPLE_EVENT.timestamp_ms,
                max_ts: EXAMPLE_CORRECTION_ROW.timestamp_ms,
                rolled_by: null,
                rollup_sparse: false,
              },
            ],
            rollups: [],
          },
        },
      }),
    },
    errors: {
      400: { badRange: { summary: 'Empty range', value: err('invalid_request', 'from: must be before to (the range is [from, to))', { field: 'from' }) } },
      401: {},
      403: {},
    },
    store: true,
  },
  {
    method: 'get',
    path: '/v1/accounts/{account_id}/verify',
    operationId: 'verifyAccount',
    tag: 'query',
    summary: 'Verify rollups against raw events',
    description: "Recomputes the account's range from raw segments only and as source=auto answers it (rollups + raw); any drift is a bug.",
    params: [accountParam, fromParam, toParam],
    ok: {
      description: 'Both totals.',
      content: json(ref('Verification'), {
        match: {
          summary: 'Rollups agree',
          value: {
            account_id: ACCOUNT,
            from: FROM_ISO,
            to: TO_ISO,
            generation: 9,
            raw_total: '1000',
            raw_count: 2,
            rollup_total: '1000',
            rollup_count: 2,
            drift: '0',
            matches: true,
            rolled_segments: 1,
            unrolled_segments: 0,
            rollups: 1,
            period_sealed: false,
          },
        },
      }),
    },
    errors: { 400: { missingFrom: ERROR_TEXT[400].example }, 401: {}, 403: {} },
    store: true,
  },
  {
    method: 'post',
    path: '/v1/query/json',
    operationId: 'queryJson',
    tag: 'query',
    summary: 'Aggregate query (JSON)',
    description: 'Sum and/or count over [from, to) for one account or all accounts, with filters, grouping, ordering and a limit.',
    body: {
      required: true,
      description: 'The query.',
      content: json(ref('JsonQuery'), {
        byModel: {
          summary: 'Top models of one account',
          value: {
            account_id: ACCOUNT,
            from: FROM,
            to: TO,
            group_by: ['model_id'],
            filters: { meter_id: ['tokens.output', 'tokens.input'], 'dim:region': 'eu' },
            metrics: ['sum', 'count'],
            order_by: [{ metric: 'sum', direction: 'desc' }],
            limit: 10,
          },
        },
      }),
    },
    ok: {
      description: 'The lines.',
      content: json(ref('QueryAnswer'), {
        byModel: {
          summary: 'Top models',
          value: {
            account_id: ACCOUNT,
            from: FROM_ISO,
            to: TO_ISO,
            source: 'auto',
            generations: { '3': 4 },
            lines: [{ model_id: 'model-a', quantity: '1250', count: 1, unit: 'tokens' }],
          },
        },
      }),
    },
    errors: {
      400: {
        badGroup: { summary: 'Unknown group key', value: err('invalid_request', 'group_by: cannot group by "quantity"', { field: 'group_by' }) },
        ...UNKNOWN_FIELD('acount_id', 'source, account_id, from, to, group_by, filters, metrics, order_by, limit'),
      },
      401: {},
      403: {},
      413: REQUEST_413,
    },
    store: true,
  },
  {
    method: 'post',
    path: '/v1/query/sql',
    operationId: 'querySql',
    tag: 'query',
    summary: 'Aggregate query (SQL subset)',
    description:
      "One SELECT over the table usage_events: SUM(quantity) and/or COUNT(*) and group columns; WHERE is an AND of `col = 'v'`, `col IN (...)` and a required timestamp_ms range (ms since the epoch); GROUP BY, ORDER BY, LIMIT. Anything else (OR, HAVING, joins, aliases, other functions) is a 400 naming it.",
    body: {
      required: true,
      description: 'A JSON object `{"sql": "..."}`, or the SQL itself as text/plain or application/sql.',
      content: {
        'application/json': { schema: ref('SqlQuery'), examples: { byMeter: { summary: 'Usage by meter', value: { sql: SQL_EXAMPLE } } } },
        'text/plain': { schema: { type: 'string', maxLength: 10_000 }, examples: { byMeter: { summary: 'Usage by meter', value: SQL_EXAMPLE } } },
        'application/sql': { schema: { type: 'string', maxLength: 10_000 }, examples: { byMeter: { summary: 'Usage by meter', value: SQL_EXAMPLE } } },
      },
    },
    ok: {
      description: 'The lines.',
      content: json(ref('QueryAnswer'), {
        byMeter: {
          summary: 'Usage by meter',
          value: {
            account_id: ACCOUNT,
            from: FROM_ISO,
            to: TO_ISO,
            source: 'auto',
            generations: { '3': 4 },
            lines: [{ meter_id: 'tokens.output', quantity: '1250', count: 1, unit: 'tokens' }],
          },
        },
      }),
    },
    errors: {
      400: {
        star: { summary: 'Unsupported SQL', value: err('invalid_request', 'SELECT *: not supported; list the columns', { field: 'sql' }) },
        noRange: {
          summary: 'No time range',
          value: err('invalid_request', 'timestamp_ms: a lower bound (timestamp_ms >= ..) and an upper bound (timestamp_ms < ..) are both required', {
            field: 'sql',
          }),
        },
      },
      401: {},
      403: {},
      413: REQUEST_413,
    },
    store: true,
  },
  {
    method: 'post',
    path: '/v1/accounts/{account_id}/periods/{period}/close',
    operationId: 'closePeriod',
    tag: 'periods',
    summary: 'Close a billing period',
    description:
      'Freezes the totals and invoice lines of the month in one commit: every Usage event acknowledged before the close is in the snapshot, every later one for the month is rejected (period_closed). Corrections are still accepted, as pending adjustments. Closing a closed period changes nothing (already_closed: true).',
    params: [accountParam, periodParam],
    body: PERIOD_ACTION_BODY,
    ok: {
      description: 'The closed period.',
      content: json(ref('PeriodCloseResult'), { closed: { summary: 'Closed', value: { ...CLOSED_VIEW, already_closed: false } } }),
    },
    errors: { 400: PERIOD_400, 401: {}, 403: {}, 413: REQUEST_413 },
    store: true,
  },
  {
    method: 'post',
    path: '/v1/accounts/{account_id}/periods/{period}/reopen',
    operationId: 'reopenPeriod',
    tag: 'periods',
    summary: 'Reopen a closed billing period',
    description:
      'Drops the frozen totals (the history keeps the close) so Usage events for the month are accepted again. Reopening an open period changes nothing (reopened: false).',
    params: [accountParam, periodParam],
    body: { ...PERIOD_ACTION_BODY, content: json(ref('PeriodAction'), { reason: { summary: 'With a reason', value: { reason: 'late correction' } } }) },
    ok: {
      description: 'The period after the reopen.',
      content: json(ref('PeriodReopenResult'), {
        reopened: { summary: 'Reopened', value: { ...OPEN_VIEW, reopened: true } },
        notClosed: {
          summary: 'Was not closed',
          value: { ...OPEN_VIEW, history: [], reopened: false, message: 'the period is not closed; nothing to reopen' },
        },
      }),
    },
    errors: { 400: PERIOD_400, 401: {}, 403: {}, 413: REQUEST_413 },
    store: true,
  },
  {
    method: 'get',
    path: '/v1/accounts/{account_id}/periods/{period}',
    operationId: 'getPeriod',
    tag: 'periods',
    summary: 'Read a billing period',
    description: 'Live totals while open; frozen totals, invoice lines, pending adjustments and the net total once closed; the history either way.',
    params: [accountParam, periodParam],
    ok: {
      description: 'The period.',
      content: json(ref('PeriodView'), {
        closed: { summary: 'A closed period', value: CLOSED_VIEW },
        open: { summary: 'An open period', value: { ...OPEN_VIEW, history: [] } },
      }),
    },
    errors: { 400: PERIOD_400, 401: {}, 403: {} },
    store: true,
  },
  {
    method: 'get',
    path: '/v1/accounts/{account_id}/periods',
    operationId: 'listPeriods',
    tag: 'periods',
    summary: "List an account's periods",
    description: 'The periods of the account that have been closed at least once, oldest first (a month never closed is open and not listed).',
    params: [accountParam],
    ok: {
      description: 'The periods.',
      content: json(ref('PeriodList'), {
        list: {
          summary: 'One closed, one reopened',
          value: {
            account_id: ACCOUNT,
            periods: [
              {
                period: '2025-12',
                state: 'closed',
                closed_at: '2026-01-02T00:00:00.000Z',
                frozen_quantity: '9800',
                adjustments_quantity: '-200',
                net_total: '9600',
                transitions: 1,
              },
              { period: PERIOD, state: 'open', transitions: 2 },
            ],
          },
        },
      }),
    },
    errors: {
      400: {
        badAccount: {
          summary: 'Bad account id',
          value: err('invalid_request', 'account_id: must be 1-256 characters without control characters', { field: 'account_id' }),
        },
      },
      401: {},
      403: {},
    },
    store: true,
  },
  {
    method: 'post',
    path: '/v1/admin/jobs/{job}',
    operationId: 'runJob',
    tag: 'admin',
    summary: 'Run a background job now',
    description:
      'Runs rollup, compact or gc over every shard (a few shards at a time, each run bounded) and answers its report. A failing shard is reported in its result and does not stop the others. Jobs also run on a schedule; running one by hand is safe at any time.',
    params: [
      {
        name: 'job',
        in: 'path',
        required: true,
        description: 'The job: rollup, compact or gc.',
        schema: { type: 'string', enum: ['rollup', 'compact', 'gc'] },
        example: 'gc',
      },
      {
        name: 'dry_run',
        in: 'query',
        description: 'true: list what gc would delete without deleting it (gc only).',
        schema: { type: 'string', enum: ['true', 'false'], default: 'false' },
        example: 'true',
      },
    ],
    ok: {
      description: 'The report.',
      content: json(ref('JobReport'), {
        gc: {
          summary: 'A gc dry run',
          value: {
            job: 'gc',
            shards: 2,
            failed: 0,
            results: [
              {
                shard: 0,
                dry_run: true,
                expired_replacements: 1,
                scanned: 12,
                referenced: 10,
                deleted: 2,
                keys: ['shards/00/segments/raw/01KD7ZK3Q8XW0M2V9T4N6B8C1D.seg'],
              },
              { shard: 1, dry_run: true, expired_replacements: 0, scanned: 4, referenced: 4, deleted: 0, keys: [] },
              { scratch_deleted: 0 },
            ],
          },
        },
        compact: {
          summary: 'A compaction',
          value: {
            job: 'compact',
            shards: 1,
            failed: 0,
            results: [{ shard: 0, committed: true, inputs: 8, outputs: 1, rows_in: 8000, rows_out: 7998, duplicates_removed: 2, conflicts_found: 0 }],
          },
        },
      }),
    },
    errors: {
      400: {
        badJob: { summary: 'Unknown job', value: err('invalid_request', 'job: must be one of rollup, compact, gc', { field: 'job' }) },
        dryRun: { summary: 'dry_run on another job', value: err('invalid_request', 'dry_run: only gc has a dry run', { field: 'dry_run' }) },
        bodyOption: {
          summary: 'An option sent as a body',
          value: err('invalid_request', 'dry_run: unknown field; known fields: none', { field: 'dry_run', unknown_fields: ['dry_run'] }),
        },
      },
      401: {},
      403: {},
      413: REQUEST_413,
    },
    store: true,
  },
  {
    method: 'get',
    path: '/v1/admin/conflicts',
    operationId: 'listConflicts',
    tag: 'admin',
    summary: 'List stored event conflicts',
    description:
      'Conflicts compaction found in storage: the same (account_id, event_id) stored with different payloads (possible only across the dedupe window) — the later copy is quarantined, out of every total, until resolved — and one event_id used under two accounts (two events, reported).',
    ok: {
      description: 'The conflicts of every shard.',
      content: json(ref('ConflictList'), {
        one: {
          summary: 'One conflict',
          value: {
            conflicts: [
              {
                id: '01KD81000000000000000000CD',
                kind: 'payload',
                status: 'quarantined',
                event_id: 'evt_0001',
                account_id: ACCOUNT,
                segments: ['01KD7ZK3Q8XW0M2V9T4N6B8C1D', '01KD80000000000000000000AB'],
                found_at_ms: TO_MS,
                found_at: TO_ISO,
                timestamp_ms: FROM_MS,
                kept: { segment: '01KD7ZK3Q8XW0M2V9T4N6B8C1D', payload: '9f1c0a7e', quantity: '1250', ingested_at_ms: FROM_MS + 1000 },
                quarantined: { segment: '01KD80000000000000000000AB', payload: '03ab77e1', quantity: '1300', ingested_at_ms: TO_MS - 1000 },
                shard: 3,
              },
            ],
          },
        },
        none: { summary: 'None', value: { conflicts: [] } },
      }),
    },
    errors: { 401: {}, 403: {} },
    store: true,
  },
  {
    method: 'post',
    path: '/v1/admin/conflicts/{id}/resolve',
    operationId: 'resolveConflict',
    tag: 'admin',
    summary: 'Resolve a quarantined conflict',
    description:
      'An admin decision on a quarantined conflict, committed with an audit record (who, when, why): keep first (the quarantined copy stays out of every total), keep both (it comes back as a distinct event) or keep second (it comes back and a Retraction cancels the first copy, a pending adjustment if its period is closed). Bringing a Usage copy back into a closed period is refused: reopen it first. Resolving a resolved conflict changes nothing (already_resolved: true).',
    params: [
      {
        name: 'id',
        in: 'path',
        required: true,
        description: 'The conflict id from GET /v1/admin/conflicts.',
        schema: { type: 'string', minLength: 1 },
        example: '01KD81000000000000000000CD',
      },
    ],
    body: {
      required: true,
      description: '`{"keep": "first" | "second" | "both", "reason": "..."}`.',
      content: json(ref('ConflictResolve'), {
        keepFirst: { summary: 'Keep the first copy', value: { keep: 'first', reason: 'client retried with a bad payload' } },
      }),
    },
    ok: {
      description: 'The conflict after the decision.',
      content: json(ref('ConflictResolution'), {
        keptFirst: {
          summary: 'First copy kept',
          value: {
            conflict: {
              id: '01KD81000000000000000000CD',
              kind: 'payload',
              status: 'resolved',
              event_id: 'evt_0001',
              account_id: ACCOUNT,
              segments: ['01KD7ZK3Q8XW0M2V9T4N6B8C1D', '01KD80000000000000000000AB'],
              found_at_ms: TO_MS,
              found_at: TO_ISO,
              timestamp_ms: FROM_MS,
              resolution: { keep: 'first', at_ms: TO_MS + 60_000, actor: 'ops', reason: 'client retried with a bad payload' },
              shard: 3,
            },
            already_resolved: false,
          },
        },
      }),
    },
    errors: { 400: UNKNOWN_FIELD('keap', 'keep, reason'), 401: {}, 403: {}, 404: {}, 413: REQUEST_413 },
    store: true,
  },
  {
    method: 'get',
    path: '/openapi.json',
    operationId: 'openapi',
    tag: 'docs',
    summary: 'This OpenAPI 3.1 document',
    description: 'The machine-readable description of every route.',
    ok: {
      description: 'The document.',
      content: json(
        {
          type: 'object',
          required: ['openapi', 'info', 'paths'],
          properties: {
            openapi: { type: 'string', const: OPENAPI_VERSION },
            info: { type: 'object' },
            paths: { type: 'object' },
            components: { type: 'object' },
          },
          additionalProperties: true,
          description: 'An OpenAPI 3.1 document.',
        },
        { head: { summary: 'Its first fields', value: { openapi: OPENAPI_VERSION, info: { title: 'usageDb', version: API_VERSION }, paths: {} } } },
      ),
    },
    errors: {},
    store: false,
  },
  {
    method: 'get',
    path: '/docs',
    operationId: 'docs',
    tag: 'docs',
    summary: 'Human-readable API reference',
    description: 'This document rendered as a self-contained HTML page (no scripts, no external resources).',
    ok: {
      description: 'The page.',
      content: {
        'text/html': {
          schema: { type: 'string' },
          examples: {
            page: { summary: 'The start of the page', value: '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>usageDb API</title>' },
          },
        },
      },
    },
    errors: {},
    store: false,
  },
  ...CONSOLE_OPERATIONS,
];

function mediaObject(content: Readonly<Record<string, Media>>): JsonObject {
  const out: JsonObject = {};
  for (const [type, m] of Object.entries(content)) out[type] = { schema: m.schema, examples: m.examples };
  return out;
}

const RETRY_AFTER = { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 1 } };

function errorResponse(status: ErrorStatus, examples: Readonly<Record<string, Example>>): JsonObject {
  const text = ERROR_TEXT[status];
  const ex = Object.keys(examples).length > 0 ? examples : { example: text.example };
  return {
    description: text.description,
    ...(status === 503 ? { headers: { 'Retry-After': RETRY_AFTER } } : {}),
    content: { 'application/json': { schema: ref('ErrorBody'), examples: ex } },
  };
}

function operation(op: OpSpec): JsonObject {
  const scope: Scope | null = scopeFor(op.method.toUpperCase(), op.path);
  const responses: JsonObject = { '200': { description: op.ok.description, content: mediaObject(op.ok.content) } };
  for (const [status, r] of Object.entries(op.extra ?? {})) responses[status] = { description: r.description, content: mediaObject(r.content) };
  const errors: Partial<Record<ErrorStatus, Readonly<Record<string, Example>>>> = { ...op.errors, ...(op.store ? { 500: {}, 503: {} } : {}) };
  for (const status of Object.keys(errors)
    .map(Number)
    .sort((a, b) => a - b) as ErrorStatus[]) {
    if (responses[String(status)] === undefined) responses[String(status)] = errorResponse(status, errors[status]!);
  }
  const auth =
    scope === null ? 'Public: no API key needed.' : `Needs an API key with the \`${scope}\` scope (or \`admin\`) when the server has API keys configured.`;
  return {
    operationId: op.operationId,
    tags: [op.tag],
    summary: op.summary,
    description: `${op.description}\n\n${op.securityNote ?? auth}`,
    ...(op.params === undefined
      ? {}
      : {
          parameters: op.params.map((p) => ({
            name: p.name,
            in: p.in,
            required: p.required ?? false,
            description: p.description,
            schema: p.schema,
            ...(p.example === undefined ? {} : { example: p.example }),
          })),
        }),
    ...(op.body === undefined ? {} : { requestBody: { required: op.body.required, description: op.body.description, content: mediaObject(op.body.content) } }),
    responses,
    security: scope === null ? [] : [{ bearer: [scope] }],
  };
}

let cached: Record<string, unknown> | undefined;

/** The OpenAPI 3.1.0 document (built once; treat it as read-only). */
export function buildOpenApi(): Record<string, unknown> {
  if (cached !== undefined) return cached;
  const paths: Record<string, JsonObject> = {};
  for (const op of OPERATIONS) (paths[op.path] ??= {})[op.method] = operation(op);
  cached = {
    openapi: OPENAPI_VERSION,
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    info: {
      title: 'usageDb',
      version: API_VERSION,
      summary: 'Billing-safe usage database whose whole state lives in S3-compatible object storage.',
      description:
        'Ingest usage events exactly once, query them exactly (quantities are signed 128-bit integers sent as decimal strings), and close billing periods.\n\n' +
        'Authentication: `Authorization: Bearer <api key>`. Keys carry scopes (ingest, read, admin; admin grants all). A server without configured keys is open and ignores the header.\n\n' +
        'Errors are `{"error": {"code", "message", "details"?}}` with a stable code; 503 answers carry Retry-After. Every answer carries X-Request-Id.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    tags: [
      { name: 'system', description: 'Health and metrics.' },
      { name: 'ingest', description: 'Writing usage events.' },
      { name: 'query', description: 'Reading usage: per account, audit trail, explain, verify, JSON and SQL queries.' },
      { name: 'periods', description: 'Billing periods (UTC months): close, reopen, read.' },
      { name: 'admin', description: 'Operations: background jobs and stored conflicts.' },
      { name: 'docs', description: 'This documentation.' },
    ],
    paths,
    components: {
      schemas: componentSchemas(),
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API key from USAGEDB_API_KEYS; the required scope is listed per operation.' },
      },
    },
  };
  return cached;
}
