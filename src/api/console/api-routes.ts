/**
 * The JSON routes the console needs beyond the core API: GET /v1/whoami (which scopes the key
 * has, so the console hides what it cannot do), GET /v1/admin/status (the JSON twin of /metrics
 * plus the manifests' state) and GET /v1/accounts/{a}/usage/events/{event_id} (every stored row
 * of one event id: both payloads of a conflict). Scopes come from `scopeFor` like every route.
 */
import type { Hono } from 'hono';
import { identify, SCOPES, type ApiKey, type Scope } from '../auth.ts';
import type { AppEnv } from '../env.ts';
import type { Metrics } from '../metrics.ts';
import { accountParam } from '../params.ts';
import { NotFoundError, ValidationError } from '../../errors.ts';
import type { Database } from '../../manifest/database.ts';
import { auditRows, type AuditRow } from '../../query/audit.ts';
import type { QueryEngine } from '../../query/engine.ts';
import { planRawSegments } from '../../query/planner.ts';
import type { QuerySpec } from '../../query/spec.ts';
import { joinRawColumns, RAW_COLUMN_NAMES } from '../../segment/raw.ts';
import type { EventRows, WhoamiResponse } from './schemas.ts';
import { adminStatus } from './status.ts';

export interface ConsoleApiDeps {
  readonly db: Database;
  readonly engine: QueryEngine;
  readonly metrics: Metrics;
  readonly keys: readonly ApiKey[];
}

const EVENT_ID = /^[^\u0000-\u001f\u007f]{1,256}$/;

export function consoleApiRoutes(app: Hono<AppEnv>, deps: ConsoleApiDeps): void {
  const { db, engine, metrics, keys } = deps;

  app.get('/v1/whoami', async (c) => {
    if (keys.length === 0) return c.json({ name: 'anonymous', scopes: [...SCOPES], open: true } satisfies WhoamiResponse);
    const key = await identify(keys, c.req.header('authorization'));
    const scopes: Scope[] = key.scopes.has('admin') ? [...SCOPES] : SCOPES.filter((s) => key.scopes.has(s));
    return c.json({ name: key.name, scopes, open: false } satisfies WhoamiResponse);
  });

  app.get('/v1/admin/status', async (c) => c.json(await adminStatus(db, engine, metrics)));

  app.get('/v1/accounts/:account_id/usage/events/:event_id', async (c) => {
    const account_id = accountParam(c);
    const event_id = c.req.param('event_id');
    if (!EVENT_ID.test(event_id)) throw new ValidationError('event_id: must be 1-256 characters without control characters', 'event_id');
    const snap = await db.shardOf(account_id).revalidate();
    // No time bound: a conflict's payloads may carry different timestamps. The account's bucket
    // and range still prune the shard's segments.
    const spec: QuerySpec = {
      accountId: account_id,
      from: Number.MIN_SAFE_INTEGER,
      to: Number.MAX_SAFE_INTEGER,
      groupBy: [],
      filters: [],
      metrics: ['sum', 'count'],
      source: 'raw',
      orderBy: [],
      limit: undefined,
    };
    // Quarantined copies too (they live in the shard's quarantine segments, out of every total).
    const plan = planRawSegments(snap.manifest.segments, spec, { bucketCount: db.info.bucket_count });
    const quarantine = new Set(snap.manifest.quarantine.map((s) => s.id));
    const rows: (AuditRow & { quarantined: boolean })[] = [];
    for (const seg of [...plan.segments, ...snap.manifest.quarantine]) {
      // A raw segment in row groups: only the account's groups.
      const groups = await engine.cache.rawColumns(seg, RAW_COLUMN_NAMES, account_id, spec);
      if (groups.length === 0) continue;
      const cols = joinRawColumns(groups);
      if (!cols.event_id!.includes(event_id)) continue;
      for (const row of auditRows(seg, cols, { accountId: account_id, from: spec.from, to: spec.to, filters: [], cursor: undefined })) {
        if (row.event_id === event_id) rows.push({ ...row, quarantined: quarantine.has(seg.id) });
      }
    }
    if (rows.length === 0) throw new NotFoundError(`event_id: "${event_id.slice(0, 64)}" is not stored for this account`);
    rows.sort((a, b) => a.ingested_at_ms - b.ingested_at_ms || (a.segment_id < b.segment_id ? -1 : 1));
    return c.json({ account_id, event_id, generation: snap.manifest.generation, rows } satisfies EventRows);
  });
}
