/**
 * A compaction commit expires replacement records past their grace (as GC's first commit does):
 * under load a shard is compacted many times between two GC runs, and each run's record would
 * otherwise stay in `current.json` (rewritten by every commit) until the hourly GC.
 */
import { describe, expect, it } from 'vitest';
import { runJob } from '../../src/jobs/run.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance, postBatch, usage } from '../support/instance.ts';

describe('replacement records', () => {
  it('a compaction run drops the records whose grace ended and keeps the others; totals exact', async () => {
    const a = await openInstance(new MemoryStore(), 'db', { shards: 1 });
    const shard = a.db.shards[0]!;
    let n = 0;
    const ingest = async (batches: number) => {
      for (let b = 0; b < batches; b++) {
        const events = Array.from({ length: 5 }, () => usage(++n, { account_id: `acct-${n % 3}`, quantity: n }));
        expect((await postBatch(a.app, events)).body.accepted).toBe(5);
      }
    };
    const records = async () => (await shard.revalidate()).manifest.replacements.map((r) => r.id);

    await ingest(3);
    expect((await runJob(a.db, 'compact', { compact: { graceMs: 60_000 } })).results[0]!.committed).toBe(true);
    const first = await records();
    expect(first).toHaveLength(1);

    // A minute later the first record's grace is over: the next compaction commit drops it.
    a.clock.advance(60_001);
    await ingest(3);
    expect((await runJob(a.db, 'compact', { compact: { graceMs: 3_600_000 } })).results[0]!.committed).toBe(true);
    const second = await records();
    expect(second).toHaveLength(1);
    expect(second).not.toContain(first[0]);

    // A record still in its grace stays.
    await ingest(3);
    expect((await runJob(a.db, 'compact', { compact: { graceMs: 3_600_000 } })).results[0]!.committed).toBe(true);
    const third = await records();
    expect(third).toHaveLength(2);
    expect(third).toContain(second[0]);

    const m = (await shard.revalidate()).manifest;
    expect(m.segments.reduce((s, x) => s + x.rows, 0)).toBe(45);
    // GC then finds nothing left to expire from the first run, and deletes its inputs as garbage.
    const gc = (await runJob(a.db, 'gc', { gc: { safetyAgeMs: 0 } })).results[0]! as { expired_replacements: number };
    expect(gc.expired_replacements).toBe(0);
  });
});
