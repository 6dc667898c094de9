/**
 * The older part of the dedupe window on the memory store: compacted segments answered from key
 * filters, confirmed by ranged reads of their sorted hashes — exact, lazy and bounded.
 */
import { describe, expect, it } from 'vitest';
import { ColdFilters } from '../../src/ingest/cold-filters.ts';
import { runJob, type JobOptions } from '../../src/jobs/run.ts';
import { DAY_MS } from '../../src/model/time.ts';
import { FaultPlan, withFaults } from '../../src/store/faulty.ts';
import { AmbiguousWriteError, StoreRefusedError } from '../../src/store/errors.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { alwaysMaybe } from '../support/filters.ts';
import { openInstance, postBatch, storedEvents, TestClock, usage, type Instance } from '../support/instance.ts';

const FAST: JobOptions = { compact: { graceMs: 0 }, gc: { safetyAgeMs: 0 }, rollup: { maxRollups: 3, graceMs: 0 } };
const WINDOW = { dedupeWindowMs: 35 * DAY_MS };
const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);
const many = (n: number, from = 0) => range(n, from).map((i) => usage(i, { account_id: `acct-${i % 97}` }));

async function compactAll(inst: Instance): Promise<void> {
  for (let i = 0; i < 5; i++) await runJob(inst.db, 'compact', FAST);
}

function writers(inst: Instance) {
  return inst.db.shards.map((_, s) => inst.ingestor.writer(s));
}

/** Events in the exact index and filter bytes held, over every shard of an instance. */
function held(inst: Instance): { entries: number; filterBytes: number; filterLoads: number; pageReads: number; falsePositives: number } {
  const ws = writers(inst);
  return {
    entries: ws.reduce((n, w) => n + w.index.size, 0),
    filterBytes: ws.reduce((n, w) => n + w.cold.bytes, 0),
    filterLoads: ws.reduce((n, w) => n + w.cold.stats.filterLoads, 0),
    pageReads: ws.reduce((n, w) => n + w.cold.stats.pageReads, 0),
    falsePositives: ws.reduce((n, w) => n + w.cold.stats.falsePositives, 0),
  };
}

async function setup(n: number): Promise<{ store: MemoryStore; clock: TestClock; a: Instance }> {
  const store = new MemoryStore();
  const clock = new TestClock();
  const a = await openInstance(store, 'db', { clock, ingest: WINDOW });
  for (let at = 0; at < n; at += 1000) expect((await postBatch(a.app, many(Math.min(1000, n - at), at))).body.accepted).toBe(Math.min(1000, n - at));
  await compactAll(a);
  const live = (await Promise.all(a.db.shards.map((s) => s.revalidate()))).flatMap((m) => m.manifest.segments);
  expect(live.length).toBeGreaterThan(0);
  expect(live.every((s) => s.compacted === true && s.filter_bytes !== undefined)).toBe(true);
  return { store, clock, a };
}

describe('dedupe of compacted segments through key filters', () => {
  it('a cold instance answers a retry of an event committed 30 days ago (compacted) exactly, without loading hashes', async () => {
    const { store, clock } = await setup(3000);
    clock.advance(30 * DAY_MS);
    const cold = await openInstance(store, 'db', { clock, ingest: WINDOW, seed: 9 });
    const retry = await postBatch(cold.app, many(3000));
    expect(retry.body).toMatchObject({ accepted: 0, duplicates: 3000, conflicts: 0 });
    const h = held(cold);
    expect(h.entries).toBe(0);
    expect(h.filterLoads).toBeGreaterThan(0);
    // a different payload under an old id is a conflict; new ids are accepted
    const mixed = await postBatch(cold.app, [usage(5, { account_id: 'acct-5', quantity: 1 }), ...many(10, 5000)]);
    expect(mixed.body).toMatchObject({ accepted: 10, duplicates: 0, conflicts: 1 });
    const stored = await storedEvents(cold.db);
    expect(stored.length).toBe(3010);
    expect(new Set(stored.map((e) => `${e.account_id}/${e.event_id}`)).size).toBe(3010);
  });

  it('past the window the filters are not consulted: an old id is new again', async () => {
    const { store, clock } = await setup(500);
    clock.advance(36 * DAY_MS);
    const cold = await openInstance(store, 'db', { clock, ingest: WINDOW, seed: 9 });
    expect((await postBatch(cold.app, many(10))).body.accepted).toBe(10);
    expect(held(cold).filterLoads).toBe(0);
  });

  it('a filter that always says maybe never rejects a new event (false positives are confirmed away)', async () => {
    const { store, clock } = await setup(2000);
    const cold = await openInstance(store, 'db', { clock, ingest: WINDOW, seed: 9 });
    for (const w of writers(cold)) {
      w.cold.loadFilter = alwaysMaybe;
    }
    const r = await postBatch(cold.app, many(1000, 10_000));
    expect(r.body).toMatchObject({ accepted: 1000, duplicates: 0, conflicts: 0 });
    const h = held(cold);
    expect(h.falsePositives).toBeGreaterThan(0);
    expect(h.pageReads).toBeGreaterThan(0);
    // and the real duplicates among them are still found
    expect((await postBatch(cold.app, many(100, 1000))).body).toMatchObject({ duplicates: 100 });
  });

  it('memory stays bounded: a cold instance holds no exact entries for compacted events and ~2.5 filter bytes per event', async () => {
    const n = 20_000;
    const { store, clock } = await setup(n);
    const cold = await openInstance(store, 'db', { clock, ingest: WINDOW, seed: 9 });
    // touches every bucket of every shard
    const r = await postBatch(cold.app, many(1000, 100_000));
    expect(r.body.accepted).toBe(1000);
    const h = held(cold);
    expect(h.entries).toBe(1000); // only its own commit
    expect(h.filterBytes / n).toBeLessThan(3);
    // an LRU bound below the total keeps only what fits, and answers stay exact
    const tight = await openInstance(store, 'db', { clock, ingest: WINDOW, seed: 10 });
    for (const w of writers(tight)) (w as unknown as { cold: ColdFilters }).cold = new ColdFilters({ maxFilterBytes: 4096, maxPages: 4, concurrency: 4 });
    expect((await postBatch(tight.app, many(1000, 3000))).body).toMatchObject({ duplicates: 1000 });
    expect(writers(tight).every((w) => w.cold.bytes <= 4096 || w.cold.size === 1)).toBe(true);
  });

  it('a warm instance drops exact entries once compaction put them in filtered segments, and still answers them exactly', async () => {
    const store = new MemoryStore();
    const clock = new TestClock();
    const a = await openInstance(store, 'db', { clock, ingest: WINDOW });
    for (let at = 0; at < 20_000; at += 1000) await postBatch(a.app, many(1000, at));
    expect(held(a).entries).toBe(20_000);
    const jobs = await openInstance(store, 'db', { clock, ingest: WINDOW, seed: 8 });
    await compactAll(jobs);
    expect((await postBatch(a.app, many(500, 50_000))).body.accepted).toBe(500);
    expect(held(a).entries).toBeLessThanOrEqual(500 + 1000);
    let dups = 0;
    for (let at = 0; at < 20_000; at += 5000) dups += (await postBatch(a.app, many(5000, at))).body.duplicates;
    expect(dups).toBe(20_000);
    expect((await postBatch(a.app, many(501, 50_000))).body).toMatchObject({ accepted: 1, duplicates: 500 });
    const stored = await storedEvents(a.db);
    expect(stored.length).toBe(20_501);
  });

  it('several instances, one compacting meanwhile: retries are stored once', async () => {
    const { store, clock, a } = await setup(2000);
    const b = await openInstance(store, 'db', { clock, ingest: WINDOW, seed: 2 });
    const c = await openInstance(store, 'db', { clock, ingest: WINDOW, seed: 3 });
    const fresh = many(500, 20_000);
    await postBatch(b.app, fresh);
    const results = await Promise.all([
      postBatch(a.app, many(2500)),
      compactAll(b).then(() => postBatch(c.app, [...many(1000), ...fresh])),
      postBatch(b.app, fresh),
    ]);
    expect(results[0].body.accepted).toBe(500);
    const stored = await storedEvents(c.db);
    expect(new Set(stored.map((e) => `${e.account_id}/${e.event_id}`)).size).toBe(stored.length);
    expect(stored.length).toBe(3000);
  });

  for (const [label, fault] of [
    ['compaction crashes after writing its filtered outputs, before its manifest commit', { type: 'fail', error: new StoreRefusedError('403') }],
    ['compaction commit lands but its answer is lost', { type: 'land-then-fail', error: new AmbiguousWriteError('timeout') }],
  ] as const) {
    it(label, async () => {
      const store = new MemoryStore();
      const clock = new TestClock();
      const plan = new FaultPlan();
      const a = await openInstance(withFaults(store, plan.injector), 'db', { clock, ingest: WINDOW });
      await postBatch(a.app, many(2000));
      plan.add('put', 'current.json', fault, 4);
      await runJob(a.db, 'compact', FAST).catch(() => undefined);
      plan.clear();
      const cold = await openInstance(store, 'db', { clock, ingest: WINDOW, seed: 4 });
      expect((await postBatch(cold.app, many(2000))).body).toMatchObject({ duplicates: 2000 });
      await compactAll(cold);
      const cold2 = await openInstance(store, 'db', { clock, ingest: WINDOW, seed: 5 });
      expect((await postBatch(cold2.app, many(2100))).body).toMatchObject({ duplicates: 2000, accepted: 100 });
      const stored = await storedEvents(cold2.db);
      expect(stored.length).toBe(2100);
      expect(new Set(stored.map((e) => `${e.account_id}/${e.event_id}`)).size).toBe(2100);
    });
  }
});
