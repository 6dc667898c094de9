/**
 * Compaction granularity over a database whose compacted segments are one per (UTC day, bucket),
 * as the previous release wrote them: re-merging converges — every committing run lowers the
 * segment count, none rewrites a segment unchanged, a run with nothing to gain commits nothing —
 * and every total stays exact on the way.
 */
import { describe, expect, it } from 'vitest';
import { runJob, type JobOptions } from '../../src/jobs/run.ts';
import { DAY_MS } from '../../src/model/time.ts';
import { accountSpec } from '../../src/query/engine.ts';
import type { QuerySpec } from '../../src/query/spec.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance, postBatch, type Instance } from '../support/instance.ts';
import { generate, MONTHS, reference, type RefEvent } from '../query/reference.ts';

const FROM = MONTHS[0]!;
const TO = MONTHS[3]!;
const FAST: JobOptions = { compact: { graceMs: 0 }, gc: { safetyAgeMs: 0 } };
/** The previous release's shape: every (day, bucket) partition an output of its own. */
const PER_PARTITION: JobOptions = { compact: { graceMs: 0, packBytes: 1 } };

async function total(inst: Instance, account: string | undefined): Promise<[bigint, number]> {
  // One account, or every account (no accountId).
  const spec: QuerySpec = { ...accountSpec(account ?? '', FROM, TO), accountId: account, source: 'auto' };
  const l = (await inst.engine.aggregate(spec)).lines[0];
  return l === undefined ? [0n, 0] : [BigInt(l.quantity as string), l.count as number];
}

const want = (events: readonly RefEvent[], account?: string) =>
  reference(events, { ...(account === undefined ? {} : { account }), from: FROM, to: TO }).get('[]') ?? [0n, 0];

describe('compaction granularity', () => {
  it('re-merges per-(day, bucket) segments of the previous release until a fixpoint, lowering the count on every run, totals exact', async () => {
    const a = await openInstance(new MemoryStore(), 'db', { shards: 1, buckets: 16 });
    const events = generate(21, 1500, 30);
    for (let i = 0; i < events.length; i += 250) expect((await postBatch(a.app, events.slice(i, i + 250))).body.accepted).toBe(250);
    const accounts = [...new Set(events.map((e) => e.account_id))].sort();
    const shard = a.db.shards[0]!;
    await runJob(a.db, 'compact', PER_PARTITION);
    const old = (await shard.revalidate()).manifest.segments;
    // One segment per (day, bucket) partition, as before.
    const partitions = new Set(old.map((s) => `${Math.floor(s.min_ts / DAY_MS)}:${s.buckets.join(',')}`));
    expect(old.every((s) => s.compacted === true && s.buckets.length === 1 && Math.floor(s.min_ts / DAY_MS) === Math.floor(s.max_ts / DAY_MS))).toBe(true);
    expect(partitions.size).toBe(old.length);
    expect(old.length).toBeGreaterThan(200);

    let count = old.length;
    let runs = 0;
    for (;;) {
      const r = (await runJob(a.db, 'compact', FAST)).results[0]!;
      if (r.committed !== true) break;
      runs++;
      const now = (await shard.revalidate()).manifest.segments;
      expect(now.length).toBeLessThan(count);
      expect(now.reduce((n, s) => n + s.rows, 0)).toBe(1500);
      count = now.length;
      expect(runs).toBeLessThan(20);
    }
    // Runs of at most 64 inputs: 64 -> 1, then the outputs of those runs merge.
    expect(count).toBe(1);
    expect((await runJob(a.db, 'compact', FAST)).results[0]).toMatchObject({ committed: false });
    expect(await total(a, undefined)).toEqual(want(events));
    for (const acc of accounts) expect(await total(a, acc), acc).toEqual(want(events, acc));
  }, 120_000);
});
