/**
 * An "app instance" for tests: its own Database handle, ingestor and Hono app over a shared
 * store, i.e. its own caches and dedupe index, as a separate server or Worker isolate would have,
 * wired by the same buildServices the servers use.
 */
import type { Hono } from 'hono';
import type { AppEnv } from '../../src/api/env.ts';
import { silentLogger } from '../../src/api/observability.ts';
import type { Ingestor } from '../../src/ingest/ingestor.ts';
import type { PeriodService } from '../../src/period/periods.ts';
import type { QueryEngine, QueryOptions } from '../../src/query/engine.ts';
import { loadConfig } from '../../src/runtime/config.ts';
import { buildServices } from '../../src/runtime/services.ts';
import type { IngestOptions } from '../../src/ingest/limits.ts';
import type { CommitPolicy } from '../../src/manifest/backoff.ts';
import type { Database } from '../../src/manifest/database.ts';
import { seededRandom, type Deps } from '../../src/model/deps.ts';
import type { UsageEvent } from '../../src/model/event.ts';
import type { ObjectStore } from '../../src/store/types.ts';
import { readRawEvents } from '../../src/objects/segment-objects.ts';

/** Real sleeps, but a clock the test can move (dedupe window, period boundaries). */
export class TestClock {
  offsetMs = 0;
  now = (): number => Date.now() + this.offsetMs;
  sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

export interface Instance {
  db: Database;
  ingestor: Ingestor;
  engine: QueryEngine;
  periods: PeriodService;
  app: Hono<AppEnv>;
  clock: TestClock;
}

export async function openInstance(
  store: ObjectStore,
  prefix: string,
  opts: {
    seed?: number;
    clock?: TestClock;
    ingest?: Partial<IngestOptions>;
    shards?: number;
    buckets?: number;
    commitPolicy?: Partial<CommitPolicy>;
    /** How manifests are split into parts (the simulation uses tiny recent chunks). */
    parts?: { readonly recentChunk?: number; readonly settleMs?: number };
    query?: Partial<QueryOptions>;
    /** USAGEDB_API_KEYS-style key list; none: an open API. */
    keys?: string;
  } = {},
): Promise<Instance> {
  const clock = opts.clock ?? new TestClock();
  const deps: Deps = { clock, random: seededRandom(opts.seed ?? 1) };
  // The production wiring (services.ts), on the test's store, clock and tuning.
  const config = loadConfig({
    USAGEDB_STORE: 'memory',
    USAGEDB_PREFIX: prefix,
    USAGEDB_SHARDS: String(opts.shards ?? 4),
    USAGEDB_BUCKETS: String(opts.buckets ?? 16),
    ...(opts.keys === undefined ? {} : { USAGEDB_API_KEYS: opts.keys }),
  });
  const s = await buildServices({
    config,
    store,
    deps,
    logger: silentLogger,
    loopbackOnly: true,
    tuning: {
      commitPolicy: { maxAttempts: 500, maxDurationMs: 120_000, ...opts.commitPolicy },
      ...(opts.parts === undefined ? {} : { parts: opts.parts }),
      ...(opts.ingest === undefined ? {} : { ingest: opts.ingest }),
      ...(opts.query === undefined ? {} : { query: opts.query }),
    },
  });
  return { db: s.db, ingestor: s.ingestor, engine: s.engine, periods: s.periods, app: s.app, clock };
}

export async function postBatch(app: Hono<AppEnv>, events: unknown): Promise<{ status: number; body: any }> {
  const res = await app.request('/v1/usage/batch', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof events === 'string' ? events : JSON.stringify({ events }),
  });
  return { status: res.status, body: await res.json() };
}

/** Every raw event every shard's current manifest lists, decoded from the segments. */
export async function storedEvents(db: Database): Promise<UsageEvent[]> {
  const out: UsageEvent[] = [];
  for (const shard of db.shards) {
    const snap = await shard.revalidate();
    for (const seg of snap.manifest.segments) {
      out.push(...(await readRawEvents(db.store, seg)));
    }
  }
  return out;
}

export { usage } from './fixtures.ts';
