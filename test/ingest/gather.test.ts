/**
 * Group commit under load gathers the requests the previous flush's answers bring back
 * (`gatherMaxMs`): clients that wait for their answers end up sharing commits instead of
 * splitting into alternating halves — and a lone client never waits. Exact counts throughout.
 */
import { describe, expect, it } from 'vitest';
import { withFaults } from '../../src/store/faulty.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance, postBatch, storedEvents, usage } from '../support/instance.ts';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Every write takes 25 ms, like a store a network away: commits take long enough to gather behind. */
const slowStore = () => withFaults(new MemoryStore(), (call) => (call.op === 'put' ? { type: 'delay', ms: 25 } : undefined));

async function closedLoop(gatherMaxMs: number): Promise<{ commits: number; stored: number; accepted: number }> {
  const a = await openInstance(slowStore(), 'gather', { shards: 1, ingest: { gatherMaxMs } });
  await a.db.shards[0]!.load();
  const clients = 8;
  const rounds = 12;
  let accepted = 0;
  // Each client sends its next request as soon as its previous one is answered.
  await Promise.all(
    range(clients).map(async (c) => {
      for (const r of range(rounds)) {
        // Clients come back at different times (network, parsing): 1 to 15 ms after their answer.
        await new Promise((resolve) => setTimeout(resolve, 1 + 2 * c));
        const res = await postBatch(a.app, [usage(c * 1000 + r, { account_id: `acct-${c}` }), usage(c * 1000 + r, { account_id: `acct-${c}` })]);
        expect(res.body).toMatchObject({ accepted: 1, duplicates: 1 });
        accepted += res.body.accepted as number;
      }
    }),
  );
  return { commits: a.ingestor.writer(0).stats.commits, stored: (await storedEvents(a.db)).length, accepted };
}

describe('gathering under load', () => {
  it('8 clients waiting for their answers share commits: about one commit per round with it, about two without', async () => {
    const without = await closedLoop(0);
    const withGather = await closedLoop(1_000);
    for (const r of [without, withGather]) {
      expect(r.accepted).toBe(96);
      expect(r.stored).toBe(96);
    }
    // 12 rounds of 8 requests: without gathering a flush starts on the first request back and the
    // clients split into groups; with it, a flush waits for the 8 it expects (at most as long as
    // the previous flush took), so each round is about one commit.
    expect(without.commits).toBeGreaterThanOrEqual(18);
    expect(withGather.commits).toBeLessThanOrEqual(15);
  });

  it('a lone client never waits for others (each of its requests is one flush of one request)', async () => {
    const a = await openInstance(slowStore(), 'lone', { shards: 1, ingest: { gatherMaxMs: 60_000 } });
    await a.db.shards[0]!.load();
    for (const i of range(20)) expect((await postBatch(a.app, [usage(i, { account_id: 'acct-lone' })])).body.accepted).toBe(1);
    expect(a.ingestor.writer(0).stats.commits).toBe(20);
    expect((await storedEvents(a.db)).length).toBe(20);
  }, 20_000);
});
