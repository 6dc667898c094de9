/**
 * Billing periods: the reference's period tests, the close-vs-ingest race across instances, and
 * recomputing a snapshot from its generation's history copy and source segments.
 */
import { describe, expect, it } from 'vitest';
import type { ObjectStore } from '../../src/store/types.ts';
import { readRawEvents } from '../../src/objects/segment-objects.ts';
import { openInstance, postBatch, usage, type Instance } from '../support/instance.ts';

export interface Backend {
  store: ObjectStore;
  prefix: string;
}

const JAN = Date.UTC(2026, 0, 10);
const FEB = Date.UTC(2026, 1, 10);

async function call(inst: Instance, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await inst.app.request(path, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json() };
}

const ev = (i: number, account: string, ts: number, over: Record<string, unknown> = {}) => usage(i, { account_id: account, timestamp_ms: ts, ...over });
const correction = (i: number, account: string, ts: number, q: number) =>
  ev(i, account, ts, { kind: 'Correction', quantity: q, correction_ref: { original_event_id: `evt-${i - 1}`, reason: 'refund' } });

export function describePeriods(name: string, make: () => Promise<Backend>): void {
  describe(`billing periods: ${name}`, () => {
    it('close persists, answers the snapshot, and a second close is idempotent (already_closed, first snapshot kept)', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix);
      await postBatch(a.app, [
        ev(1, 'acme', JAN, { quantity: 100 }),
        ev(2, 'acme', JAN, { quantity: 50, meter_id: 'tokens.cached' }),
        ev(3, 'acme', FEB, { quantity: 7 }),
      ]);
      const closed = await call(a, 'POST', '/v1/accounts/acme/periods/2026-01/close', { reason: 'invoice 42' });
      expect(closed.status).toBe(200);
      expect(closed.body).toMatchObject({ state: 'closed', already_closed: false, frozen: { quantity: '150', event_count: 2 }, net_total: '150' });
      expect(closed.body.frozen.lines).toHaveLength(2);
      const again = await call(a, 'POST', '/v1/accounts/acme/periods/2026-01/close');
      expect(again.body).toMatchObject({ already_closed: true, frozen: { quantity: '150' }, closed_at: closed.body.closed_at });
      const other = await openInstance(store, prefix, { seed: 2 });
      const seen = await call(other, 'GET', '/v1/accounts/acme/periods/2026-01');
      expect(seen.body).toMatchObject({ state: 'closed', frozen: { quantity: '150', event_count: 2 } });
      expect(seen.body.history).toEqual([expect.objectContaining({ action: 'close', reason: 'invoice 42', actor: 'anonymous' })]);
    });

    it('a closed period rejects Usage only for that account and only in-period; corrections become adjustments', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix);
      await postBatch(a.app, [ev(1, 'acme', JAN, { quantity: 100 })]);
      await call(a, 'POST', '/v1/accounts/acme/periods/2026-01/close');
      const r = await postBatch(a.app, [
        ev(2, 'acme', JAN, { quantity: 5 }),
        ev(3, 'acme', FEB, { quantity: 6 }),
        ev(4, 'globex', JAN, { quantity: 7 }),
        correction(5, 'acme', JAN, -30),
        ev(6, 'acme', Date.UTC(2026, 0, 31, 23, 59, 59, 999), { quantity: 1 }),
        ev(7, 'acme', Date.UTC(2026, 1, 1), { quantity: 1 }),
      ]);
      expect(r.body).toMatchObject({ accepted: 4, rejected: 2 });
      expect(r.body.errors.map((e: { index: number }) => e.index)).toEqual([0, 4]);
      const p = await call(a, 'GET', '/v1/accounts/acme/periods/2026-01');
      expect(p.body).toMatchObject({ frozen: { quantity: '100' }, adjustments_quantity: '-30', net_total: '70' });
      expect(p.body.pending_adjustments).toEqual([
        expect.objectContaining({ event_id: 'evt-5', kind: 'Correction', quantity: '-30', original_event_id: 'evt-4', reason: 'refund' }),
      ]);
      // Closing again keeps the first snapshot, adjustments and all.
      const again = await call(a, 'POST', '/v1/accounts/acme/periods/2026-01/close');
      expect(again.body).toMatchObject({ already_closed: true, frozen: { quantity: '100' }, net_total: '70' });
    });

    it('reopen discards the snapshot (period live again); reopen of an open period says so; re-close takes a fresh snapshot', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix);
      await postBatch(a.app, [ev(1, 'acme', JAN, { quantity: 10 })]);
      expect((await call(a, 'POST', '/v1/accounts/acme/periods/2026-01/reopen')).body).toMatchObject({ reopened: false, state: 'open' });
      await call(a, 'POST', '/v1/accounts/acme/periods/2026-01/close', { reason: 'first' });
      expect((await postBatch(a.app, [ev(2, 'acme', JAN, { quantity: 5 })])).body.rejected).toBe(1);
      const reopened = await call(a, 'POST', '/v1/accounts/acme/periods/2026-01/reopen', { reason: 'late usage' });
      expect(reopened.body).toMatchObject({ reopened: true, state: 'open', live: { quantity: '10', event_count: 1 } });
      expect((await postBatch(a.app, [ev(2, 'acme', JAN, { quantity: 5 })])).body.accepted).toBe(1);
      const reclosed = await call(a, 'POST', '/v1/accounts/acme/periods/2026-01/close', { reason: 'second' });
      expect(reclosed.body).toMatchObject({ already_closed: false, frozen: { quantity: '15', event_count: 2 } });
      expect(reclosed.body.history.map((h: { action: string; reason: string }) => `${h.action}:${h.reason}`)).toEqual([
        'close:first',
        'reopen:late usage',
        'close:second',
      ]);
      const list = await call(a, 'GET', '/v1/accounts/acme/periods');
      expect(list.body.periods).toEqual([
        expect.objectContaining({ period: '2026-01', state: 'closed', frozen_quantity: '15', net_total: '15', transitions: 3 }),
      ]);
    });

    it('an unknown account closes to a zero snapshot; bad period strings and bodies are 400s naming the field', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix);
      expect((await call(a, 'POST', '/v1/accounts/nobody/periods/2026-03/close')).body).toMatchObject({ frozen: { quantity: '0', event_count: 0, lines: [] } });
      for (const bad of ['2026-13', '26-01', '2026-1', '2026-00', 'jan']) {
        for (const [method, suffix] of [
          ['GET', ''],
          ['POST', '/close'],
          ['POST', '/reopen'],
        ] as const) {
          const r = await call(a, method, `/v1/accounts/acme/periods/${bad}${suffix}`);
          expect(r.status, `${method} ${bad}${suffix}`).toBe(400);
          expect(r.body.error.message.startsWith('period:')).toBe(true);
        }
      }
      expect((await call(a, 'POST', '/v1/accounts/acme/periods/2026-01/close', '{"reason":')).body.error.message).toMatch(/^body:/);
      expect((await call(a, 'POST', '/v1/accounts/acme/periods/2026-01/close', { reason: 5 })).body.error.message).toMatch(/^reason:/);
      expect((await call(a, 'POST', '/v1/accounts/acme/periods/2026-01/close', '[]')).status).toBe(400);
    });

    it('a period that has not ended is closed only on purpose: force with a reason', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix);
      const thisMonth = new Date(a.clock.now()).toISOString().slice(0, 7);
      for (const period of [thisMonth, '9999-12']) {
        const refused = await call(a, 'POST', `/v1/accounts/acme/periods/${period}/close`, { reason: 'early' });
        expect(refused.status).toBe(400);
        expect(refused.body.error).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/^period: .* has not ended/) });
        expect((await call(a, 'GET', `/v1/accounts/acme/periods/${period}`)).body.state).toBe('open');
      }
      expect((await call(a, 'POST', '/v1/accounts/acme/periods/9999-12/close', { force: true })).body.error.message).toMatch(/^reason:/);
      expect((await call(a, 'POST', '/v1/accounts/acme/periods/9999-12/close', { force: 'yes', reason: 'x' })).body.error.message).toMatch(/^force:/);
      const forced = await call(a, 'POST', `/v1/accounts/acme/periods/${thisMonth}/close`, { force: true, reason: 'account terminated' });
      expect(forced.status).toBe(200);
      expect(forced.body).toMatchObject({ state: 'closed', history: [{ action: 'close', reason: 'account terminated' }] });
      // An ended period needs no force.
      expect((await call(a, 'POST', '/v1/accounts/acme/periods/2026-01/close')).status).toBe(200);
    });

    it("a snapshot's generation and source segments recompute its total from history", async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix);
      for (let b = 0; b < 3; b++)
        await postBatch(
          a.app,
          Array.from({ length: 20 }, (_, i) => ev(b * 100 + i, 'acme', JAN + i * 1000, { quantity: b * 1000 + i })),
        );
      await postBatch(a.app, [ev(999, 'acme', FEB, { quantity: 1 })]);
      const closed = (await call(a, 'POST', '/v1/accounts/acme/periods/2026-01/close')).body;
      const shard = a.db.shardOf('acme');
      // G, rebuilt from history (a full copy and the edit records after it).
      const manifest = await shard.readGeneration(closed.generation);
      let total = 0n;
      let count = 0;
      for (const id of closed.source_segments as string[]) {
        const seg = manifest.segments.find((s) => s.id === id)!;
        for (const e of await readRawEvents(store, seg)) {
          if (e.account_id === 'acme' && e.timestamp_ms >= Date.UTC(2026, 0, 1) && e.timestamp_ms < Date.UTC(2026, 1, 1)) {
            total += e.quantity;
            count++;
          }
        }
      }
      expect(total.toString()).toBe(closed.frozen.quantity);
      expect(count).toBe(closed.frozen.event_count);
      expect(closed.source_segments).toHaveLength(3);
    });

    it('race: 4 instances ingest into one account-month while another closes it; nothing acknowledged escapes the snapshot', async () => {
      const { store, prefix } = await make();
      const writers = await Promise.all([1, 2, 3, 4].map((s) => openInstance(store, prefix, { seed: s })));
      const closer = await openInstance(store, prefix, { seed: 9 });
      const acked = new Map<string, number>(); // event_id -> quantity
      const rejected = new Set<string>();
      let n = 0;
      // Each pump ingests until one of its batches is refused whole (the close has committed),
      // however slow the machine; the cap only guards against a close that never commits.
      const pump = async (inst: Instance) => {
        for (let round = 0; round < 5000; round++) {
          const batch = Array.from({ length: 5 }, () => {
            const i = n++;
            return ev(i, 'racer', JAN + (i % 1000) * 1000, { quantity: 1 + (i % 13) });
          });
          const r = await postBatch(inst.app, batch);
          if (r.status !== 200) continue; // never acknowledged
          const errs = new Map<number, string>(r.body.errors.map((e: { index: number; reason: string }) => [e.index, e.reason]));
          batch.forEach((e, i) => {
            const reason = errs.get(i);
            if (reason === undefined) acked.set(e.event_id as string, e.quantity as number);
            else if (reason.startsWith('period_closed')) rejected.add(e.event_id as string);
          });
          if (r.body.rejected === batch.length) return; // closed: nothing more gets in
        }
      };
      const pumps = writers.map(pump);
      await new Promise((r) => setTimeout(r, 150));
      const closed = await call(closer, 'POST', '/v1/accounts/racer/periods/2026-01/close');
      await Promise.all(pumps);
      expect(closed.status).toBe(200);
      expect(acked.size).toBeGreaterThan(0);
      expect(rejected.size).toBeGreaterThan(0);
      const sum = [...acked.values()].reduce((s, q) => s + BigInt(q), 0n);
      expect(closed.body.frozen.quantity).toBe(sum.toString());
      expect(closed.body.frozen.event_count).toBe(acked.size);
      for (const id of acked.keys()) expect(rejected.has(id)).toBe(false);
      // The stored raw events of the month are exactly the acknowledged ones.
      const page = await call(closer, 'GET', `/v1/accounts/racer/usage?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z`);
      expect(page.body.lines[0]).toMatchObject({ quantity: sum.toString(), count: acked.size });
    }, 120_000);

    it('a fenced period is never stuck: a read, the next close or the rollup job finishes it; corrections wait for it', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix);
      await postBatch(a.app, [ev(1, 'fenced', JAN, { quantity: 100 }), ev(2, 'fenced2', JAN, { quantity: 7 }), ev(3, 'fenced3', JAN, { quantity: 9 })]);
      // A close that fenced and then lost every race (or whose instance died) leaves `closing`.
      const fence = (account: string) =>
        a.db.shardOf(account).commit({ op: 'fencePeriod', account_id: account, month: '2026-01', at_ms: 1, reason: 'fenced close', actor: 'ops' });
      for (const acct of ['fenced', 'fenced2', 'fenced3']) expect((await fence(acct)).committed).toBe(true);
      // While fenced: Usage refused; a correction is told to retry (nothing of the request is acknowledged).
      const usageNow = await postBatch(a.app, [ev(4, 'fenced', JAN)]);
      expect(usageNow.body).toMatchObject({ accepted: 0, rejected: 1 });
      const fix = correction(5, 'fenced', JAN, -10);
      const waits = await postBatch(a.app, [fix]);
      expect(waits.status).toBe(503);
      expect(waits.body.error.code).toBe('period_closing');

      // A read of the period finishes it, with the fence's actor and reason.
      const read = await call(a, 'GET', '/v1/accounts/fenced/periods/2026-01');
      expect(read.body).toMatchObject({ state: 'closed', frozen: { quantity: '100', event_count: 1 } });
      expect(read.body.history.map((h: { action: string; reason: string }) => [h.action, h.reason])).toEqual([
        ['fence', 'fenced close'],
        ['close', 'fenced close'],
      ]);
      // The next close finishes it too.
      expect((await call(a, 'POST', '/v1/accounts/fenced2/periods/2026-01/close', { reason: 'again' })).body).toMatchObject({
        state: 'closed',
        frozen: { quantity: '7' },
      });
      // And the rollup job, with no one asking.
      const report = await a.app.request('/v1/admin/jobs/rollup', { method: 'POST' });
      expect(((await report.json()) as { results: { periods_finished?: number }[] }).results.reduce((n, r) => n + (r.periods_finished ?? 0), 0)).toBe(1);
      expect((await a.db.shardOf('fenced3').revalidate()).manifest.periods.find((p) => p.account_id === 'fenced3')?.state).toBe('closed');

      // Once closed, the same correction is accepted as a pending adjustment.
      expect((await postBatch(a.app, [fix])).body).toMatchObject({ accepted: 1 });
      expect((await call(a, 'GET', '/v1/accounts/fenced/periods/2026-01')).body).toMatchObject({ adjustments_quantity: '-10', net_total: '90' });
    });

    it('a close on a shard under continuous ingest finishes in bounded time; two closers agree; nothing acknowledged escapes', async () => {
      const { store, prefix } = await make();
      const opts = { shards: 1, buckets: 1 } as const;
      const writers = await Promise.all([1, 2, 3].map((s) => openInstance(store, prefix, { seed: s, ...opts })));
      const closers = await Promise.all([8, 9].map((s) => openInstance(store, prefix, { seed: s, ...opts })));
      const acked = new Map<string, number>();
      let n = 0;
      let stop = false;
      // Ingest into the closing account-month and into others on the same (only) shard, non-stop.
      const pump = async (inst: Instance) => {
        while (!stop) {
          const batch = Array.from({ length: 8 }, () => {
            const i = n++;
            return ev(i, i % 2 === 0 ? 'busy' : `other-${i % 7}`, i % 3 === 0 ? FEB : JAN + (i % 1000) * 1000, { quantity: 1 + (i % 13) });
          });
          const r = await postBatch(inst.app, batch);
          if (r.status !== 200) continue;
          const refused = new Set(r.body.errors.map((e: { index: number }) => e.index));
          batch.forEach((e, i) => {
            if (!refused.has(i) && e.account_id === 'busy' && (e.timestamp_ms as number) < FEB) acked.set(e.event_id as string, e.quantity as number);
          });
        }
      };
      const pumps = writers.map(pump);
      await new Promise((r) => setTimeout(r, 200));
      const started = Date.now();
      const closes = await Promise.all(closers.map((c) => call(c, 'POST', '/v1/accounts/busy/periods/2026-01/close', { reason: 'month end' })));
      const took = Date.now() - started;
      await new Promise((r) => setTimeout(r, 100));
      stop = true;
      await Promise.all(pumps);
      for (const c of closes) expect(c.status, JSON.stringify(c.body)).toBe(200);
      expect(took).toBeLessThan(60_000);
      expect(closes.map((c) => c.body.already_closed).sort()).toEqual([false, true]);
      const sum = [...acked.values()].reduce((s, q) => s + BigInt(q), 0n);
      for (const c of closes) expect(c.body.frozen).toMatchObject({ quantity: sum.toString(), event_count: acked.size });
    }, 120_000);
  });
}
