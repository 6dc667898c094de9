/**
 * The Hono app, the same on every runtime: built from a Database, it knows no runtime. Routes
 * are added per feature; errors go through `toHttpError` only.
 */
import { Hono } from 'hono';
import type { Database } from '../manifest/database.ts';
import { dbInfoKey } from '../manifest/keys.ts';
import type { Ingestor } from '../ingest/ingestor.ts';
import type { PeriodService } from '../period/periods.ts';
import type { QueryEngine } from '../query/engine.ts';
import { DEFAULT_MAX_RANGE_MS } from '../query/time-range.ts';
import { errorBody, toHttpError } from './errors.ts';
import { ingestRoutes } from './routes/ingest.ts';
import type { AppEnv } from './env.ts';
import { periodRoutes } from './routes/periods.ts';
import { queryRoutes, type QueryRouteLimits } from './routes/query.ts';

export interface AppOptions {
  readonly db: Database;
  readonly ingestor: Ingestor;
  readonly engine: QueryEngine;
  readonly periods: PeriodService;
  readonly queryLimits?: Partial<QueryRouteLimits>;
  /** Where infrastructure faults are reported (never secrets, never to the caller). */
  readonly logError?: (err: unknown, context: { method: string; path: string }) => void;
  /** Milliseconds /health waits for the store. */
  readonly healthTimeoutMs?: number;
}

export function createApp(opts: AppOptions): Hono<AppEnv> {
  const { db } = opts;
  const app = new Hono<AppEnv>();

  app.onError((err, c) => {
    const http = toHttpError(err);
    if (http.fault) opts.logError?.(err, { method: c.req.method, path: c.req.path });
    return c.json(http.body, http.status, http.headers);
  });
  app.notFound((c) => c.json(errorBody('not_found', `no route for ${c.req.method} ${c.req.path}`), 404));

  app.get('/health', async (c) => {
    const started = db.deps.clock.now();
    const timeoutMs = opts.healthTimeoutMs ?? 3_000;
    let storeOk = false;
    let problem: string | undefined;
    try {
      const head = await withTimeout(db.store.head(dbInfoKey(db.prefix)), timeoutMs);
      storeOk = head !== null;
      if (!storeOk) problem = 'db.json is missing';
    } catch (err) {
      problem = err instanceof Error && err.message === 'timeout' ? `no answer in ${timeoutMs} ms` : 'the store did not answer';
    }
    const body = {
      status: storeOk ? 'ok' : 'degraded',
      store: { kind: db.store.kind, ok: storeOk, latency_ms: db.deps.clock.now() - started, ...(problem ? { problem } : {}) },
      writable: db.probe.ok,
      ...(db.probe.ok ? {} : { write_problems: db.probe.problems }),
      database: { db_id: db.info.db_id, shards: db.info.shard_count, buckets: db.info.bucket_count },
    };
    return c.json(body, storeOk ? 200 : 503);
  });

  ingestRoutes(app, opts.ingestor);
  periodRoutes(app, opts.periods);
  queryRoutes(app, opts.engine, { maxPageSize: 1000, defaultPageSize: 100, maxRangeMs: DEFAULT_MAX_RANGE_MS, ...opts.queryLimits });

  return app;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), ms);
    }),
  ]);
}
