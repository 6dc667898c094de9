/**
 * Ingest guarantees, run on the memory store and on MinIO: exactly-once across retries and
 * instances, conflicts visible, cold instances still deduplicate, the window is measured on
 * ingested_at_ms, group commit shares commits, and injected failures never lose or double an
 * acknowledged event once the client retries.
 */
import { describe, expect, it } from 'vitest';
import { ShardKeys } from '../../src/manifest/keys.ts';
import { shardOfAccount } from '../../src/model/bucket.ts';
import { AmbiguousWriteError, PreconditionFailedError, StoreRefusedError, TransientStoreError } from '../../src/store/errors.ts';
import { FaultPlan, withFaults } from '../../src/store/faulty.ts';
import type { ObjectStore } from '../../src/store/types.ts';
import { openInstance, postBatch, storedEvents, usage } from '../support/instance.ts';
import { closedWithoutTotals } from '../support/fixtures.ts';

export interface Backend {
  store: ObjectStore;
  prefix: string;
}

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

function expectExactlyOnce(ids: string[], expected: string[]): void {
  expect(ids.length).toBe(expected.length);
  expect(new Set(ids).size).toBe(ids.length);
  expect([...ids].sort()).toEqual([...expected].sort());
}

export function describeIngest(name: string, make: () => Promise<Backend>): void {
  describe(`ingest: ${name}`, () => {
    it('accepts a batch, answers a retried batch as all duplicates, and stores each event once', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix);
      const events = range(50).map((i) => usage(i));
      const first = await postBatch(a.app, events);
      expect(first).toEqual({ status: 200, body: { accepted: 50, duplicates: 0, conflicts: 0, rejected: 0, errors: [] } });
      const retry = await postBatch(a.app, events);
      expect(retry.body).toMatchObject({ accepted: 0, duplicates: 50, conflicts: 0, rejected: 0 });
      const stored = await storedEvents(a.db);
      expectExactlyOnce(
        stored.map((e) => e.event_id),
        events.map((e) => e.event_id as string),
      );
      const total = stored.reduce((s, e) => s + e.quantity, 0n);
      expect(total).toBe(BigInt(range(50).reduce((s, i) => s + 100 + i, 0)));
    });

    it('same id with a different payload is a conflict, named in errors; dimension key order is not a difference', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix);
      await postBatch(a.app, [usage(1, { dimensions: { a: '1', b: '2' } })]);
      const r = await postBatch(a.app, [usage(1, { dimensions: { b: '2', a: '1' } }), usage(1, { quantity: 999 })]);
      expect(r.body.duplicates).toBe(1);
      expect(r.body.conflicts).toBe(1);
      expect(r.body.errors).toEqual([{ index: 1, event_id: 'evt-1', reason: expect.stringContaining('conflict') }]);
      expect((await storedEvents(a.db)).map((e) => e.quantity)).toEqual([101n]);
    });

    it('classifies duplicates and conflicts inside one batch', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix);
      const r = await postBatch(a.app, [usage(1), usage(2), usage(1), usage(2, { quantity: 5 }), usage(3)]);
      expect(r.body).toMatchObject({ accepted: 3, duplicates: 1, conflicts: 1, rejected: 0 });
      expect(r.body.errors).toEqual([{ index: 3, event_id: 'evt-2', reason: expect.stringContaining('conflict') }]);
      expect((await storedEvents(a.db)).map((e) => e.event_id).sort()).toEqual(['evt-1', 'evt-2', 'evt-3']);
    });

    it('4 instances receive the same 1,000 events concurrently: exactly 1,000 accepted in total, stored once', async () => {
      const { store, prefix } = await make();
      const instances = await Promise.all(range(4).map((i) => openInstance(store, prefix, { seed: 10 + i })));
      const events = range(1000).map((i) => usage(i, { account_id: `acct-${i % 13}` }));
      const batches = range(10).map((b) => events.slice(b * 100, b * 100 + 100));
      const responses = await Promise.all(
        instances.flatMap((inst, k) =>
          // each instance sends all ten batches, in its own order
          range(10).map((b) => postBatch(inst.app, batches[(b + k * 3) % 10]!)),
        ),
      );
      for (const r of responses) expect(r.status).toBe(200);
      const accepted = responses.reduce((s, r) => s + r.body.accepted, 0);
      const duplicates = responses.reduce((s, r) => s + r.body.duplicates, 0);
      expect(accepted).toBe(1000);
      expect(duplicates).toBe(3000);
      const stored = await storedEvents(instances[0]!.db);
      expectExactlyOnce(
        stored.map((e) => e.event_id),
        events.map((e) => e.event_id as string),
      );
    }, 120_000);

    it('without group commit (Workers), each request commits alone: concurrent requests on one instance still accept each event once', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix, { ingest: { groupCommit: false } });
      const events = range(300).map((i) => usage(i, { account_id: `acct-${i % 7}` }));
      // 12 requests of 50 events; every event is sent twice, by requests racing each other.
      const ring = [...events, ...events];
      const batches = range(12).map((b) => ring.slice(b * 25, b * 25 + 50));
      const responses = await Promise.all(batches.map((b) => postBatch(a.app, b)));
      for (const r of responses) expect(r.status).toBe(200);
      expect(responses.reduce((s, r) => s + r.body.accepted, 0)).toBe(300);
      expect(responses.reduce((s, r) => s + r.body.duplicates, 0)).toBe(300);
      // One flush per request and shard: nothing was gathered across requests.
      const writers = range(a.db.layout.shardCount).map((s) => a.ingestor.writer(s).stats);
      const submissions = writers.reduce((s, w) => s + w.submissions, 0);
      expect(submissions).toBeGreaterThanOrEqual(12);
      expect(writers.reduce((s, w) => s + w.flushes, 0)).toBe(submissions);
      expectExactlyOnce(
        (await storedEvents(a.db)).map((e) => e.event_id),
        events.map((e) => e.event_id as string),
      );
    }, 120_000);

    it('a cold instance classifies a retry of an old batch as duplicates', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix);
      const events = range(40).map((i) => usage(i));
      await postBatch(a.app, events);
      const cold = await openInstance(store, prefix, { seed: 77 });
      const r = await postBatch(cold.app, events);
      expect(r.body).toMatchObject({ accepted: 0, duplicates: 40 });
    });

    it('the window is measured on ingested_at_ms: an event older than the window is not held against a new one', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix, { ingest: { dedupeWindowMs: 60_000 } });
      // timestamp_ms far in the past must not matter: only when the server accepted it.
      await postBatch(a.app, [usage(1, { timestamp_ms: 1_000 })]);
      a.clock.advance(30_000);
      expect((await postBatch(a.app, [usage(1, { timestamp_ms: 1_000 })])).body.duplicates).toBe(1);
      a.clock.advance(31_000);
      expect((await postBatch(a.app, [usage(1, { timestamp_ms: 1_000 })])).body.accepted).toBe(1);
      // a cold instance with the same clock agrees: the old segment is outside its window
      const cold = await openInstance(store, prefix, { clock: a.clock, ingest: { dedupeWindowMs: 60_000 }, seed: 5 });
      expect((await postBatch(cold.app, [usage(1, { timestamp_ms: 1_000 })])).body.duplicates).toBe(1);
    });

    it('group commit: concurrent requests on one instance share commits, each with its own counts', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix, { ingest: { groupCommitWindowMs: 20 } });
      const account = 'acct-group';
      const responses = await Promise.all(range(20).map((i) => postBatch(a.app, [usage(i, { account_id: account })])));
      for (const r of responses) expect(r.body).toMatchObject({ accepted: 1, duplicates: 0 });
      const w = a.ingestor.writer(shardOfAccount(account, a.db.layout));
      expect(w.stats.events).toBe(20);
      expect(w.stats.submissions).toBe(20);
      expect(w.stats.flushes).toBeLessThanOrEqual(3);
      expect(w.stats.commits).toBeLessThanOrEqual(3);
      const again = await Promise.all([postBatch(a.app, [usage(3, { account_id: account })]), postBatch(a.app, [usage(50, { account_id: account })])]);
      expect(again.map((r) => [r.body.accepted, r.body.duplicates])).toEqual([
        [0, 1],
        [1, 0],
      ]);
    });

    it('the idempotency key is (account_id, event_id): one id under six accounts is six events, on any shard layout', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix);
      const events = range(6).map((i) => usage(0, { event_id: 'shared', account_id: `tenant-${i}`, quantity: 10 + i }));
      const first = await postBatch(a.app, events);
      expect(first.body).toMatchObject({ accepted: 6, duplicates: 0, conflicts: 0, errors: [] });
      // A retry is six duplicates, on this instance and on a cold one.
      expect((await postBatch(a.app, events)).body).toMatchObject({ accepted: 0, duplicates: 6, conflicts: 0 });
      const cold = await openInstance(store, prefix, { seed: 3 });
      expect((await postBatch(cold.app, events)).body).toMatchObject({ accepted: 0, duplicates: 6, conflicts: 0 });
      // The same id with another payload under one of them is a conflict for that account only.
      const changed = await postBatch(cold.app, [{ ...events[2]!, quantity: 999 }, usage(0, { event_id: 'shared', account_id: 'tenant-new' })]);
      expect(changed.body).toMatchObject({ accepted: 1, conflicts: 1, errors: [{ index: 0, event_id: 'shared' }] });
      expect(
        (await storedEvents(a.db))
          .filter((e) => e.event_id === 'shared')
          .map((e) => e.account_id)
          .sort(),
      ).toEqual([...range(6).map((i) => `tenant-${i}`), 'tenant-new'].sort());
    });

    it('an event that will not be committed claims no id: [Usage x refused (period closed), Correction x] accepts the correction', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix);
      const account = 'acct-claim';
      await a.db.shardOf(account).commit(closedWithoutTotals(account, '2026-01'));
      const jan = Date.UTC(2026, 0, 15);
      const r = await postBatch(a.app, [
        usage(1, { account_id: account, timestamp_ms: jan, event_id: 'x' }),
        usage(1, {
          account_id: account,
          timestamp_ms: jan,
          event_id: 'x',
          kind: 'Correction',
          quantity: -5,
          correction_ref: { original_event_id: 'evt-0', reason: 'refund' },
        }),
      ]);
      expect(r.body).toMatchObject({ accepted: 1, rejected: 1, conflicts: 0 });
      expect(r.body.errors).toEqual([{ index: 0, event_id: 'x', reason: expect.stringContaining('period_closed') }]);
    });

    it('rejects Usage in a period the manifest lists as closed; corrections are accepted', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix);
      const account = 'acct-closed';
      const shard = a.db.shardOf(account);
      await shard.commit(closedWithoutTotals(account, '2026-01'));
      const jan = Date.UTC(2026, 0, 15);
      const feb = Date.UTC(2026, 1, 1);
      const r = await postBatch(a.app, [
        usage(1, { account_id: account, timestamp_ms: jan }),
        usage(2, { account_id: account, timestamp_ms: feb }),
        usage(3, { account_id: 'someone-else', timestamp_ms: jan }),
        usage(4, {
          account_id: account,
          timestamp_ms: jan,
          kind: 'Correction',
          quantity: -5,
          correction_ref: { original_event_id: 'evt-0', reason: 'refund' },
        }),
      ]);
      expect(r.body).toMatchObject({ accepted: 3, rejected: 1, duplicates: 0, conflicts: 0 });
      expect(r.body.errors).toEqual([{ index: 0, event_id: 'evt-1', reason: expect.stringContaining('period_closed') }]);
    });

    it('re-checks closed periods inside the commit: a close that commits between snapshot and commit wins', async () => {
      const { store, prefix } = await make();
      const account = 'acct-race';
      const jan = Date.UTC(2026, 0, 20);
      let closer: Awaited<ReturnType<typeof openInstance>> | undefined;
      let closed = false;
      // While instance A writes its segment (after classifying), instance B closes the period.
      const slow = withFaults(
        store,
        (call) => {
          if (!closed && call.op === 'put' && call.key.endsWith('.useg')) {
            closed = true;
            return { type: 'delay', ms: 1 };
          }
          return undefined;
        },
        async (ms) => {
          await closer!.db.shardOf(account).commit(closedWithoutTotals(account, '2026-01'));
          await new Promise((r) => setTimeout(r, ms));
        },
      );
      const a = await openInstance(slow, prefix);
      closer = await openInstance(store, prefix, { seed: 9 });
      await a.db.shardOf(account).load();
      const r = await postBatch(a.app, [usage(1, { account_id: account, timestamp_ms: jan })]);
      expect(r.body).toMatchObject({ accepted: 0, rejected: 1 });
      expect(await storedEvents(a.db)).toEqual([]);
    });

    it('a commit re-classified on fresh state writes the events accepted now, even when as many as before', async () => {
      // B's cache says X's January is closed and Y's open; meanwhile A closed Y's and reopened X's.
      // B classifies on its cache (Y accepted, X closed), loses the commit race, re-classifies on
      // fresh state (X accepted, Y closed): one accepted event either way, but a different one.
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix, { shards: 1, buckets: 1 });
      const b = await openInstance(store, prefix, { shards: 1, buckets: 1, seed: 7 });
      const by = { name: 'test', reason: 'test' };
      await a.periods.close('acct-x', '2026-01', by);
      await b.db.shards[0]!.revalidate();
      await a.periods.close('acct-y', '2026-01', by);
      await a.periods.reopen('acct-x', '2026-01', by);
      const jan = Date.UTC(2026, 0, 20);
      const y = usage(1, { account_id: 'acct-y', timestamp_ms: jan, quantity: 700 });
      const x = usage(2, { account_id: 'acct-x', timestamp_ms: jan, quantity: 42 });
      const r = await postBatch(b.app, [y, x]);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ accepted: 1, rejected: 1, errors: [{ index: 0, event_id: y.event_id }] });
      expect(r.body.errors[0].reason).toMatch(/^period_closed/);
      const stored = await storedEvents(a.db);
      expect(stored.map((e) => [e.event_id, e.account_id, e.quantity])).toEqual([[x.event_id, 'acct-x', 42n]]);
    });

    describe('failures at each step lose nothing and double nothing after the client retries', () => {
      const cases: [string, (plan: FaultPlan) => void][] = [
        ['segment PUT fails', (p) => p.add('put', '.useg', { type: 'fail', error: new TransientStoreError('503') })],
        ['segment PUT landed, answer lost', (p) => p.add('put', '.useg', { type: 'land-then-fail', error: new AmbiguousWriteError('reset') })],
        ['manifest PUT refused', (p) => p.add('put', 'current.json', { type: 'fail', error: new StoreRefusedError('403') })],
        ['manifest PUT landed, answer lost', (p) => p.add('put', 'current.json', { type: 'land-then-fail', error: new AmbiguousWriteError('timeout') })],
        ['manifest PUT landed, retry answered 412', (p) => p.add('put', 'current.json', { type: 'land-then-fail', error: new PreconditionFailedError('412') })],
        [
          'manifest PUT unknown and the read-back fails too',
          (p) => {
            p.add('put', 'current.json', { type: 'fail', error: new AmbiguousWriteError('timeout') }, 1);
            p.add('get', 'current.json', { type: 'fail', error: new TransientStoreError('503') }, 1000, () => p.fired.length > 0);
          },
        ],
      ];
      for (const [label, inject] of cases) {
        it(label, async () => {
          const { store, prefix } = await make();
          const plan = new FaultPlan();
          const a = await openInstance(withFaults(store, plan.injector), prefix, { commitPolicy: { maxDurationMs: 1500 } });
          await Promise.all(a.db.shards.map((s) => s.load()));
          const events = range(30).map((i) => usage(i));
          inject(plan);
          const first = await postBatch(a.app, events);
          expect(plan.fired.length, 'the fault was injected').toBeGreaterThan(0);
          plan.clear();
          const acknowledged = first.status === 200 ? first.body.accepted : 0;
          if (first.status !== 200) {
            expect(first.status).toBeGreaterThanOrEqual(500);
            expect(first.body.error.code).toBeTypeOf('string');
          }
          const retry = await postBatch(a.app, events);
          expect(retry.status).toBe(200);
          expect(acknowledged + retry.body.accepted + 0).toBeLessThanOrEqual(30);
          expect(retry.body.accepted + retry.body.duplicates).toBe(30);
          const cold = await openInstance(store, prefix, { seed: 3 });
          const stored = await storedEvents(cold.db);
          expectExactlyOnce(
            stored.map((e) => e.event_id),
            events.map((e) => e.event_id as string),
          );
        }, 60_000);
      }

      it('one shard failing while another commits: the retry is answered per shard', async () => {
        const { store, prefix } = await make();
        const plan = new FaultPlan();
        const a = await openInstance(withFaults(store, plan.injector), prefix);
        const events = range(40).map((i) => usage(i, { account_id: `acct-${i % 11}` }));
        const shards = new Set(events.map((e) => shardOfAccount(e.account_id as string, a.db.layout)));
        expect(shards.size).toBeGreaterThan(1);
        const victim = [...shards][0]!;
        const victimKey = new ShardKeys(prefix, victim, a.db.info.shard_count).current;
        plan.add('put', (k) => k === victimKey, { type: 'fail', error: new StoreRefusedError('shard down') });
        const first = await postBatch(a.app, events);
        expect(first.status).toBe(500); // store_refused is fatal: an operator must act
        expect(first.body.error.code).toBe('store_refused');
        plan.clear();
        const retry = await postBatch(a.app, events);
        const inVictim = events.filter((e) => shardOfAccount(e.account_id as string, a.db.layout) === victim).length;
        expect(retry.body).toMatchObject({ accepted: inVictim, duplicates: 40 - inVictim });
        expectExactlyOnce(
          (await storedEvents(a.db)).map((e) => e.event_id),
          events.map((e) => e.event_id as string),
        );
      });
    });
  });
}
