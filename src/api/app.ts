/**
 * The Hono app, the same on every runtime: built from a Database, it knows no runtime. Routes
 * are added per feature; errors go through `toHttpError` only.
 */
import { Hono } from 'hono';
import type { Database } from '../manifest/database.ts';
import { dbInfoKey } from '../manifest/keys.ts';
import { errorBody, toHttpError } from './errors.ts';

export interface AppOptions {
  readonly db: Database;
  /** Where infrastructure faults are reported (never secrets, never to the caller). */
  readonly logError?: (err: unknown, context: { method: string; path: string }) => void;
  /** Milliseconds /health waits for the store. */
  readonly healthTimeoutMs?: number;
}

export function createApp(opts: AppOptions): Hono {
  const { db } = opts;
  const app = new Hono();

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
