/**
 * A shard writer that paces its commits (a shard's sequencer on R2, which takes about one write
 * a second per key): commits of one manifest start at least the interval apart, everything that
 * arrives in between joins the next commit, and a job's edits sent to the writer take their turn
 * under the same pacing — exact counts throughout.
 */
import { describe, expect, it } from 'vitest';
import { ShardKeys } from '../../src/manifest/keys.ts';
import { shardOfAccount } from '../../src/model/bucket.ts';
import { withFaults } from '../../src/store/faulty.ts';
import { withKeyWriteLimit } from '../../src/store/key-write-limit.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance, postBatch, storedEvents, usage } from '../support/instance.ts';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('commit pacing', () => {
  it('commits of one shard start at least commitIntervalMs apart; concurrent batches share them, each counted once', async () => {
    const inner = new MemoryStore();
    const starts: number[] = [];
    const account = 'acct-paced';
    let current = '';
    const store = withFaults(inner, (call) => {
      if (call.op === 'put' && call.key === current) starts.push(Date.now());
      return undefined;
    });
    const a = await openInstance(store, 'paced', { shards: 1, ingest: { commitIntervalMs: 150 } });
    current = new ShardKeys('paced', shardOfAccount(account, a.db.layout), 1).current;
    await a.db.shards[0]!.load(); // an empty shard's first manifest is written on first load
    starts.length = 0;

    // 30 requests in three waves: each wave's requests join one paced commit.
    const responses = [];
    for (const wave of range(3)) {
      responses.push(...(await Promise.all(range(10).map((i) => postBatch(a.app, [usage(wave * 10 + i, { account_id: account })])))));
    }
    for (const r of responses) expect(r.body).toMatchObject({ accepted: 1, duplicates: 0 });
    expect(starts.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(145);
    const w = a.ingestor.writer(0);
    expect(w.stats.events).toBe(30);
    expect(w.stats.commits).toBeLessThanOrEqual(6);
    expect((await storedEvents(a.db)).length).toBe(30);
  });

  it("a job's edits sent to the writer commit in turn with ingest, paced, and the manifest holds both", async () => {
    const store = new MemoryStore();
    const a = await openInstance(store, 'paced-edits', { shards: 1, ingest: { commitIntervalMs: 100 } });
    const w = a.ingestor.writer(0);
    const t0 = Date.now();
    const [ingest, edits] = await Promise.all([
      postBatch(a.app, [usage(1, { account_id: 'acct-e' })]),
      w.commitEdits([{ op: 'setWatermark', name: 'rollup', at_ms: 1234 }]),
      postBatch(a.app, [usage(2, { account_id: 'acct-e' })]),
    ]);
    expect(ingest.body.accepted).toBe(1);
    expect(edits.results.map((r) => r.status)).toEqual(['applied']);
    // Three commits at most, paced: the last starts at least one interval after the first.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(95);
    const m = (await a.db.shards[0]!.revalidate()).manifest;
    expect(m.watermarks.rollup).toBe(1234);
    expect((await storedEvents(a.db)).map((e) => e.event_id).sort()).toEqual(['evt-1', 'evt-2']);
  });
  it('a cold writer whose shard manifest was just created waits the interval before its first commit: no throttled write under a per-key limit', async () => {
    const store = withKeyWriteLimit(new MemoryStore(), { intervalMs: 300, keys: ['*/manifest/current.json'] });
    const a = await openInstance(store, 'paced-cold', { shards: 1, ingest: { commitIntervalMs: 300 } });
    // The first ingest creates the shard's manifest (generation 1), then commits to it.
    const res = await postBatch(a.app, [usage(1, { account_id: 'acct-cold' }), usage(2, { account_id: 'acct-cold' })]);
    expect(res.body).toMatchObject({ accepted: 2, duplicates: 0 });
    expect(store.keyWriteLimit.stats).toEqual({ admitted: 2, throttled: 0 });
    expect((await storedEvents(a.db)).length).toBe(2);
  });
});
