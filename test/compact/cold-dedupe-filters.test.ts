/**
 * Compaction's cold dedupe against compacted (key-filtered) segments: the reference holds only
 * rows the inputs' keys point to (filter hit, then one page of the sorted hashes), and the result
 * is the same as against whole hashes blocks.
 */
import { describe, expect, it } from 'vitest';
import { runJob, type JobOptions } from '../../src/jobs/run.ts';
import { FaultPlan, withFaults } from '../../src/store/faulty.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance, postBatch, storedEvents, TestClock, usage } from '../support/instance.ts';

const FAST: JobOptions = { compact: { graceMs: 0 }, gc: { safetyAgeMs: 0 }, rollup: { maxRollups: 3, graceMs: 0 } };
const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);
const sum = (r: { results: readonly Record<string, unknown>[] }, k: string) => r.results.reduce((s, x) => s + Number(x[k] ?? 0), 0);

describe('cold dedupe through key filters', () => {
  it('removes past-window duplicates and quarantines conflicts against compacted segments, reading pages, not whole blocks', async () => {
    const store = new MemoryStore();
    const plan = new FaultPlan();
    const clock = new TestClock();
    const a = await openInstance(withFaults(store, plan.injector), 'db', { clock, shards: 1, buckets: 1, ingest: { dedupeWindowMs: 60_000 } });
    const ev = (i: number, q?: number) => usage(i, { account_id: 'acme', ...(q === undefined ? {} : { quantity: q }) });
    for (let at = 0; at < 6000; at += 2000)
      await postBatch(
        a.app,
        range(2000, at).map((i) => ev(i)),
      );
    await runJob(a.db, 'compact', FAST);
    const compacted = (await a.db.shards[0]!.revalidate()).manifest.segments;
    expect(compacted.every((s) => s.filter_bytes !== undefined)).toBe(true);
    clock.advance(120_000);
    const again = await postBatch(a.app, [...range(50, 100).map((i) => ev(i)), ...range(5, 3000).map((i) => ev(i, 1)), ev(9000)]);
    expect(again.body.accepted).toBe(56);
    plan.calls.length = 0;
    const report = await runJob(a.db, 'compact', FAST);
    expect(sum(report, 'duplicates_removed')).toBe(50);
    expect(sum(report, 'quarantined')).toBe(5);
    // The reference came from filter blocks and pages (a page is 256 rows x 22 bytes), never a whole 6,000-row block.
    const ranged = plan.calls.filter((c) => c.op === 'get' && c.get?.range?.length !== undefined);
    expect(ranged.length).toBeGreaterThan(0);
    expect(ranged.every((c) => (c.get?.range?.length ?? 0) < 6000 * 22)).toBe(true);
    const stored = await storedEvents(a.db);
    expect(stored.length).toBe(6001);
    expect(new Set(stored.map((e) => e.event_id)).size).toBe(6001);
  });
});
