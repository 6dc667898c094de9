/**
 * An "app instance" for tests: its own Database handle, ingestor and Hono app over a shared
 * store, i.e. its own caches and dedupe index, as a separate server or Worker isolate would have.
 */
import type { Hono } from 'hono';
import type { AppEnv } from '../../src/api/env.ts';
import { createApp } from '../../src/api/app.ts';
import { parseApiKeys } from '../../src/api/auth.ts';
import { Ingestor } from '../../src/ingest/ingestor.ts';
import { PeriodService } from '../../src/period/periods.ts';
import { QueryEngine, type QueryOptions } from '../../src/query/engine.ts';
import type { IngestOptions } from '../../src/ingest/limits.ts';
import type { CommitPolicy } from '../../src/manifest/backoff.ts';
import { Database } from '../../src/manifest/database.ts';
import { seededRandom, type Deps } from '../../src/model/deps.ts';
import type { UsageEvent } from '../../src/model/event.ts';
import type { ObjectStore } from '../../src/store/types.ts';
import { readRawEvents } from '../../src/objects/segment-objects.ts';
// Segment DEFLATE as production runtimes install it (services.ts does the same).
import '../../src/runtime/native-deflate.ts';

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
    query?: Partial<QueryOptions>;
    /** USAGEDB_API_KEYS-style key list; none: an open API. */
    keys?: string;
  } = {},
): Promise<Instance> {
  const clock = opts.clock ?? new TestClock();
  const deps: Deps = { clock, random: seededRandom(opts.seed ?? 1) };
  const db = await Database.open({
    store,
    prefix,
    deps,
    create: { shardCount: opts.shards ?? 4, bucketCount: opts.buckets ?? 16 },
    commitPolicy: { maxAttempts: 500, maxDurationMs: 120_000, ...opts.commitPolicy },
  });
  const ingestor = new Ingestor(db, opts.ingest ?? {});
  const engine = new QueryEngine(db, opts.query ?? {});
  const periods = new PeriodService(db, engine);
  const keys = await parseApiKeys(opts.keys);
  return { db, ingestor, engine, periods, app: createApp({ db, ingestor, engine, periods, keys }), clock };
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
