/**
 * Ingest commits write their history copy after answering (the caller's `history` background):
 * the commit returns before the copy lands, the ingestor's `idle()` waits for it, and readers of
 * history in the same store (listing, reading a generation) see the generation meanwhile from
 * the body kept in memory, without waiting for anyone's promise.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory.ts';
import { withFaults } from '../../src/store/faulty.ts';
import { closedWithoutTotals } from '../support/fixtures.ts';
import { openInstance, postBatch, usage } from '../support/instance.ts';

describe('history copies written in the background', () => {
  it('the commit answers before its history copy lands; idle() waits for it; history readers see it meanwhile', async () => {
    const store = new MemoryStore();
    let release: () => void = () => undefined;
    let held = 0;
    let gate = false;
    // Once gated, history PUTs wait until released: anything that waits for them hangs until then.
    const gated = withFaults(
      store,
      (call) => (gate && call.op === 'put' && call.key.includes('/history/') ? { type: 'delay', ms: 0 } : undefined),
      async () => {
        held++;
        await new Promise<void>((r) => (release = r));
      },
    );
    const inst = await openInstance(gated, 'bg', { shards: 1, buckets: 1 });
    await inst.db.shards[0]!.load();
    const base = (await inst.db.shards[0]!.revalidate()).manifest.generation;
    gate = true;
    const ack = await postBatch(inst.app, [usage(1), usage(2)]);
    expect(ack.status).toBe(200);
    expect(ack.body.accepted).toBe(2);
    // Answered, while the copy of the new generation is still held back.
    expect(held).toBe(1);
    expect(await store.head(inst.db.shards[0]!.keys.historyRecord(base + 1))).toBeNull();
    // The pending generation is listed and readable from memory before its copy lands.
    expect(await inst.db.shards[0]!.history()).toContain(base + 1);
    expect((await inst.db.shards[0]!.readGeneration(base + 1)).generation).toBe(base + 1);
    let idle = false;
    const settling = inst.ingestor.idle().then(() => (idle = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(idle).toBe(false); // idle() waits for the held copy
    release();
    await settling;
    expect(await store.head(inst.db.shards[0]!.keys.historyRecord(base + 1))).not.toBeNull();
    expect(await inst.db.shards[0]!.history()).toContain(base + 1);
  });

  it('other commits (periods, jobs) still write their copy before returning', async () => {
    const store = new MemoryStore();
    const inst = await openInstance(store, 'fg', { shards: 1, buckets: 1 });
    const shard = inst.db.shards[0]!;
    const r = await shard.commit(closedWithoutTotals('a', '2026-01'));
    expect(r.committed).toBe(true);
    expect(await store.head(shard.keys.historyRecord(r.state.manifest.generation))).not.toBeNull();
    expect((await shard.commit(() => undefined)).committed).toBe(false);
  });
});
