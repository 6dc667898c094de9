/**
 * The OpenAPI operations of the console's routes (the page, its assets, whoami, the status twin
 * of /metrics and the event-rows lookup), appended to the document by `src/api/openapi.ts` so the
 * served-route test covers them like every other route. Schemas come from `schemas.ts`.
 */
import type { OpSpec } from '../openapi.ts';
import { CONSOLE_ASSETS } from '../../console/assets.generated.ts';
import { adminStatus, eventRows, whoamiResponse } from './schemas.ts';

export const CONSOLE_COMPONENTS = { Whoami: whoamiResponse, AdminStatus: adminStatus, EventRows: eventRows };

type Json = Record<string, unknown>;
const ref = (name: keyof typeof CONSOLE_COMPONENTS): Json => ({ $ref: `#/components/schemas/${name}` });
const err = (code: string, message: string, details?: Json) => ({ error: details === undefined ? { code, message } : { code, message, details } });
const json = (schema: Json, examples: Record<string, { summary: string; value: unknown }>) => ({ 'application/json': { schema, examples } });
const text = (summary: string, value: string) => ({ schema: { type: 'string' }, examples: { sample: { summary, value } } });

const NOW = Date.UTC(2026, 1, 1, 12);
const isoAt = (ms: number) => new Date(ms).toISOString();
const jsAsset = CONSOLE_ASSETS.find((a) => a.name.endsWith('.js'))!;

const SHARD = {
  shard: 0,
  generation: 42,
  updated_at: isoAt(NOW - 5_000),
  raw_segments: 12,
  uncompacted_segments: 3,
  unrolled_segments: 2,
  raw_rows: 120_000,
  rollup_segments: 4,
  replacements: 1,
  periods_closed: 2,
  conflicts: 0,
  manifest_bytes: 18_432,
  last_compaction_at: isoAt(NOW - 60_000),
  last_rollup_at: isoAt(NOW - 30_000),
  commits: 40,
  commit_retries: 3,
  contention_errors: 0,
  ambiguous_writes: 0,
};

const { shard: _shard, updated_at: _updated, ...TOTALS } = SHARD;
const STATUS_EXAMPLE = {
  now: isoAt(NOW),
  now_ms: NOW,
  database: { db_id: '01KD7ZK0000000000000000000', shards: 2, buckets: 64, store: 's3' },
  totals: TOTALS,
  shards: [SHARD, { shard: 1, error: 'shards/01/manifest/current.json is not valid JSON; the shard refuses writes until it is restored' }],
  requests: [{ method: 'POST', route: '/v1/usage/batch', status: 200, count: 1234 }],
  cache: { hits: 900, misses: 100, bytes: 1_048_576, entries: 16, hit_rate: 0.9 },
  jobs: [{ job: 'compact', outcome: 'ok', runs: 12, last_run_at: isoAt(NOW - 60_000) }],
};

const ROW = {
  event_id: 'evt_0001',
  kind: 'Usage',
  correction_ref: null,
  account_id: 'acct_42',
  subscription_id: null,
  product_id: 'chat',
  meter_id: 'tokens.output',
  model_id: 'model-a',
  source: 'api',
  unit: 'tokens',
  timestamp_ms: Date.UTC(2026, 0, 1, 1),
  quantity: '1250',
  dimensions: { region: 'eu' },
  ingested_at_ms: Date.UTC(2026, 0, 1, 1) + 250,
  segment_id: '01KD7ZK3Q8XW0M2V9T4N6B8C1D',
};

export const CONSOLE_OPERATIONS: readonly OpSpec[] = [
  {
    method: 'get',
    path: '/v1/whoami',
    operationId: 'whoami',
    tag: 'system',
    summary: 'The API key of this request and its scopes',
    description:
      'Names the key the request carries and what it may do, so a client (the console) can hide what the key cannot do. On a server without API keys (open, loopback only) it answers `anonymous` with every scope and `open: true`.',
    securityNote: 'Any valid API key (no particular scope); a missing or unknown key is a 401. On an open server no key is needed.',
    ok: {
      description: 'The key.',
      content: json(ref('Whoami'), {
        reader: { summary: 'A read-only key', value: { name: 'dash', scopes: ['read'], open: false } },
        open: { summary: 'An open server', value: { name: 'anonymous', scopes: ['ingest', 'read', 'admin'], open: true } },
      }),
    },
    errors: { 401: {}, 503: {} },
    store: false,
  },
  {
    method: 'get',
    path: '/v1/admin/status',
    operationId: 'adminStatus',
    tag: 'admin',
    summary: 'Database status: shards, watermarks and counters (JSON twin of /metrics)',
    description:
      "Revalidates every shard's manifest and reports its generation, segment counts, manifest size and last compaction and rollup, with this instance's commit, retry, contention, cache, request and job-run counters. Rates are differences of two answers divided by the difference of their now_ms. A shard whose manifest cannot be read is listed with its error.",
    ok: { description: 'The status.', content: json(ref('AdminStatus'), { status: { summary: 'Two shards, one unreadable', value: STATUS_EXAMPLE } }) },
    errors: { 401: {}, 403: {} },
    store: true,
  },
  {
    method: 'get',
    path: '/v1/accounts/{account_id}/usage/events/{event_id}',
    operationId: 'accountEventRows',
    tag: 'query',
    summary: 'Every stored row of one event id',
    description:
      "Looks the event id up in every live raw segment of the account (no time range: a conflict's payloads may differ in timestamp). One row normally; two or more when the same event_id was stored with different payloads (see GET /v1/admin/conflicts). Reads all of the account's segments, so it costs a full scan of one account.",
    params: [
      {
        name: 'account_id',
        in: 'path',
        required: true,
        description: 'The account: 1-256 characters without control characters (URL-encode it).',
        schema: { type: 'string', minLength: 1, maxLength: 256 },
        example: 'acct_42',
      },
      {
        name: 'event_id',
        in: 'path',
        required: true,
        description: 'The event id: 1-256 characters without control characters (URL-encode it).',
        schema: { type: 'string', minLength: 1, maxLength: 256 },
        example: 'evt_0001',
      },
    ],
    ok: {
      description: 'The rows, first ingested first.',
      content: json(ref('EventRows'), {
        one: { summary: 'One stored row', value: { account_id: 'acct_42', event_id: 'evt_0001', generation: 3, rows: [{ ...ROW, quarantined: false }] } },
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
      404: { missing: { summary: 'Not stored', value: err('not_found', 'event_id: "evt_9999" is not stored for this account') } },
    },
    store: true,
  },
  {
    method: 'get',
    path: '/console',
    operationId: 'console',
    tag: 'docs',
    summary: 'The web console (single-page app)',
    description:
      'Charts and tables of usage, periods, conflicts, jobs and the database status, for people who would rather look than query. The page and its assets are public (they hold no data); the console asks for an API key and hides what its scopes cannot do. Served with a strict Content-Security-Policy and an ETag (If-None-Match answers 304).',
    ok: {
      description: 'The page.',
      content: { 'text/html': text('The start of the page', '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>usageDb console</title>') },
    },
    errors: {},
    store: false,
  },
  {
    method: 'get',
    path: '/console/assets/{name}',
    operationId: 'consoleAsset',
    tag: 'docs',
    summary: "The console's script and stylesheet",
    description:
      'Content-hashed names (`app.<hash>.js`, `app.<hash>.css`) embedded in the server at build time, so they are cached for a year as immutable; the page names the current ones.',
    params: [
      {
        name: 'name',
        in: 'path',
        required: true,
        description: 'An asset name from the console page.',
        schema: { type: 'string', pattern: '^app\\.[0-9a-f]{12}\\.(js|css)$' },
        example: jsAsset.name,
      },
    ],
    ok: {
      description: 'The asset.',
      content: { 'text/javascript': text('The bundle', '/* the console bundle */'), 'text/css': text('The stylesheet', ':root{color-scheme:light}') },
    },
    errors: {
      400: {
        badName: {
          summary: 'Not an asset name',
          value: err('invalid_request', 'name: not a console asset name (app.<hash>.js or app.<hash>.css)', { field: 'name' }),
        },
      },
      404: {
        stale: { summary: 'An asset of another build', value: err('not_found', 'name: no console asset "app.000000000000.js" in this build; reload /console') },
      },
    },
    store: false,
  },
];
