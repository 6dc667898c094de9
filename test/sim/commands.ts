/**
 * Simulation commands (fast-check model-based): each runs one operation against the world,
 * updates the model from what the system acknowledged, and asserts the answer was allowed.
 * Operations with injected faults must either succeed or fail cleanly; the client then retries.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { runJob, type JobName, type JobOptions } from '../../src/jobs/run.ts';
import { shardOfAccount } from '../../src/model/bucket.ts';
import { rebuildRollups } from '../../src/rollup/rebuild.ts';
import { postBatch } from '../support/instance.ts';
import { keyOf, type Model, monthOf, type WireEvent } from './model.ts';
import { FAULT_KINDS, SIM_WINDOW_MS, type FaultKind, type World } from './world.ts';

type Cmd = fc.AsyncCommand<Model, World, false>;

const ACCOUNTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli'];

/**
 * Jobs as the scheduler runs them, with the instances' short window (compaction writes lean
 * outputs and its strip step rewrites compacted segments past it), rollups and lean raw segments
 * in row groups of 3 rows (every rollup or lean segment of more than 3 rows is grouped; one-account
 * reads take its groups).
 */
const JOB_OPTIONS: JobOptions = {
  compact: { graceMs: 0, dedupeWindowMs: SIM_WINDOW_MS, groupRows: 3 },
  strip: { maxSegments: 2 },
  gc: { safetyAgeMs: 0 },
  rollup: { maxRollups: 4, graceMs: 0, groupRows: 3 },
};
const MONTHS = [Date.UTC(2026, 7, 1), Date.UTC(2026, 8, 1), Date.UTC(2026, 9, 1)];
/**
 * A rollup job either with the default ratio (inputs whose rollup would not halve them are
 * marked sparse, as the sim's few events per hour mostly are) or writing every rollup (ratio 1).
 */
const ALWAYS_ROLL: JobOptions = { ...JOB_OPTIONS, rollup: { ...JOB_OPTIONS.rollup, maxRowsRatio: 1 } };

function freshEvents(m: Model, n: number, account: number, month: number, variant: number): WireEvent[] {
  const out: WireEvent[] = [];
  for (let i = 0; i < n; i++) {
    const id = `e${m.seq++}`;
    const correction = (variant + i) % 7 === 3;
    out.push({
      event_id: id,
      kind: correction ? 'Correction' : 'Usage',
      ...(correction ? { correction_ref: { original_event_id: `e${Math.max(0, m.seq - 5)}`, reason: 'sim' } } : {}),
      account_id: ACCOUNTS[(account + i) % ACCOUNTS.length]!,
      product_id: ['chat', 'embed'][(i + variant) % 2]!,
      meter_id: ['in', 'out', 'req'][(i * 7 + variant) % 3]!,
      source: 'api',
      unit: 'tokens',
      timestamp_ms: MONTHS[month]! + ((i * 7919 + variant * 104729) % (28 * 86_400_000)),
      // Mostly small quantities, sometimes beyond 2^64 (exact 128-bit sums must hold).
      quantity: (variant + i) % 11 === 5 ? (BigInt(i + 1) * 10n ** 25n).toString() : String(correction ? -(i + 1) : ((i * 37 + variant) % 5000) + 1),
    });
  }
  return out;
}

/** Sends a batch (through faults if armed), retries once cleanly on failure, and checks answers. */
async function send(m: Model, w: World, inst: number, batch: WireEvent[], fault?: FaultKind): Promise<void> {
  const now = w.clock.now();
  const seen = new Map<string, string>();
  const expected = batch.map((e) => {
    const x = m.expect(e, now, seen);
    if (!seen.has(e.event_id)) seen.set(e.event_id, keyOf(e));
    return x;
  });
  if (fault !== undefined) w.faults.arm(fault, fault === 'manifest-412-storm' ? 3 : 1);
  const first = await postBatch(w.instances[inst]!.app, batch);
  w.faults.disarm();
  let answer = first;
  let pending = false;
  if (first.status !== 200) {
    expect(first.status, JSON.stringify(first.body)).toBeGreaterThanOrEqual(500);
    pending = true; // some shards may have committed: the retry answers them as duplicates
    answer = await postBatch(w.instances[inst]!.app, batch);
  }
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  const errors = new Map<number, string>((answer.body.errors as { index: number; reason: string }[]).map((e) => [e.index, e.reason]));
  let accepted = 0;
  batch.forEach((e, i) => {
    const want = expected[i]!;
    const reason = errors.get(i);
    if (want === 'conflict-or-accepted') {
      // The cold instance's view: not a conflict, so a new event (or refused for a closed period).
      pending = true;
      const closed = e.kind === 'Usage' && m.isClosed(e.account_id, e.timestamp_ms);
      if (reason === undefined && !closed) m.accept(e, now);
      else expect(reason).toMatch(closed ? /^(conflict|period_closed)/ : /^conflict/);
      return;
    }
    if (want === 'conflict' || want === 'period_closed') {
      expect(reason, `${e.event_id} should be ${want}`).toMatch(new RegExp(`^${want === 'conflict' ? 'conflict' : 'period_closed'}`));
      return;
    }
    if (want === 'either') {
      // Duplicate (warm view) or new again (cold view: refused if its period is closed).
      pending = true;
      const closed = e.kind === 'Usage' && m.isClosed(e.account_id, e.timestamp_ms);
      if (reason === undefined)
        m.accept(e, now); // the count cannot say which: assume the copy (an upper bound)
      else expect(closed && reason.startsWith('period_closed'), `${e.event_id}: ${reason}`).toBe(true);
      return;
    }
    expect(reason, `${e.event_id} unexpectedly refused`).toBeUndefined();
    if (want === 'accepted') {
      accepted++;
      m.accept(e, now);
    }
  });
  if (!pending) expect(answer.body.accepted, 'accepted count').toBe(accepted);
  m.batches.push(batch);
}

/** Every account's totals through auto and raw equal the model; exact unless copies exist. */
export async function checkInvariants(m: Model, w: World, inst: number): Promise<void> {
  const engine = w.instances[inst]!.engine;
  for (const account of m.accounts()) {
    const want = m.totals(account);
    for (const source of ['auto', 'raw'] as const) {
      const r = await engine.aggregate({
        accountId: account,
        from: MONTHS[0]! - 86_400_000 * 400,
        to: MONTHS[2]! + 86_400_000 * 62,
        groupBy: [],
        filters: [],
        metrics: ['sum', 'count'],
        source,
        orderBy: [],
        limit: undefined,
      });
      const line = r.lines[0];
      const got = { quantity: BigInt(String(line?.quantity ?? '0')), count: Number(line?.count ?? 0) };
      if (want.copies === want.count && want.optional === 0)
        expect(got, `${source} totals of ${account}`).toEqual({ quantity: want.quantity, count: want.count });
      else {
        expect(got.count).toBeGreaterThanOrEqual(want.count - want.optional);
        expect(got.count).toBeLessThanOrEqual(want.copies);
      }
    }
  }
  for (const [k, frozen] of m.closed) {
    const [account, month] = k.split('|') as [string, string];
    const p = await w.instances[inst]!.periods.get(account, month);
    expect(p.state).toBe('closed');
    const f = (p as unknown as { frozen: { quantity: string; event_count: number } }).frozen;
    if (frozen.exact) expect({ q: f.quantity, n: f.event_count }, `frozen ${k}`).toEqual({ q: frozen.quantity.toString(), n: frozen.count });
  }
}

export function commands(instances: number): fc.Arbitrary<Cmd>[] {
  const i = fc.integer({ min: 0, max: instances - 1 });
  const cmd = (name: string, run: (m: Model, w: World) => Promise<void>, check: (m: Model) => boolean = () => true): Cmd => ({
    check,
    run: async (m, w) => {
      m.steps++;
      await run(m, w);
    },
    toString: () => name,
  });
  return [
    fc
      .tuple(i, fc.integer({ min: 1, max: 30 }), fc.nat(4), fc.nat(2), fc.nat(1000))
      .map(([n, size, acct, month, v]) =>
        cmd(`ingest(i${n}, ${size} new, acct ${acct}, month ${month})`, (m, w) => send(m, w, n, freshEvents(m, size, acct, month, v))),
      ),
    fc.tuple(i, fc.nat(1000)).map(([n, b]) =>
      cmd(
        `resend(i${n}, batch ${b})`,
        (m, w) => send(m, w, n, m.batches[b % m.batches.length]!),
        (m) => m.batches.length > 0,
      ),
    ),
    fc.tuple(i, fc.nat(1000)).map(([n, b]) =>
      cmd(
        `conflicting(i${n}, batch ${b})`,
        (m, w) =>
          send(
            m,
            w,
            n,
            m.batches[b % m.batches.length]!.slice(0, 5).map((e) => ({ ...e, quantity: String(BigInt(e.quantity) + 1n) })),
          ),
        (m) => m.batches.length > 0,
      ),
    ),
    fc
      .tuple(i, fc.integer({ min: 1, max: 10 }), fc.nat(4), fc.nat(1000), fc.constantFrom(...FAULT_KINDS))
      .map(([n, size, acct, v, fault]) => cmd(`ingest-with-fault(i${n}, ${fault})`, (m, w) => send(m, w, n, freshEvents(m, size, acct, 1, v), fault))),
    fc
      .tuple(i, fc.constantFrom<JobName>('rollup', 'compact', 'gc'), fc.option(fc.constantFrom(...FAULT_KINDS), { nil: undefined }), fc.boolean())
      .map(([n, job, fault, always]) =>
        cmd(`job(i${n}, ${job}${job === 'rollup' && always ? ' always' : ''}${fault ? `, ${fault}` : ''})`, async (m, w) => {
          if (fault !== undefined) w.faults.arm(fault, 2);
          if (job === 'compact') m.markMaybeCollapsed();
          try {
            await runJob(w.instances[n]!.db, job, job === 'rollup' && always ? ALWAYS_ROLL : JOB_OPTIONS).catch(() => undefined);
          } finally {
            w.faults.disarm();
          }
        }),
      ),
    // rebuild-rollups over one month: drops its rollups and clears its sparse marks (totals unchanged).
    fc.tuple(i, fc.nat(2), fc.option(fc.constantFrom(...FAULT_KINDS), { nil: undefined })).map(([n, mo, fault]) =>
      cmd(`rebuild-rollups(i${n}, month ${mo}${fault ? `, ${fault}` : ''})`, async (_m, w) => {
        if (fault !== undefined) w.faults.arm(fault, 2);
        try {
          await rebuildRollups(w.instances[n]!.db, { from: MONTHS[mo]!, to: MONTHS[mo]! + 31 * 86_400_000, graceMs: 0 }).catch(() => undefined);
        } finally {
          w.faults.disarm();
        }
      }),
    ),
    i.map((n) =>
      cmd(`full-compaction(i${n})`, async (m, w) => {
        for (let k = 0; k < 10; k++) {
          const r = await runJob(w.instances[n]!.db, 'compact', { compact: { graceMs: 0, dedupeWindowMs: SIM_WINDOW_MS, groupRows: 3 } });
          expect(r.failed).toBe(0);
          if (!r.results.some((x) => x.committed === true)) break;
        }
        m.collapseCopies();
      }),
    ),
    fc.tuple(i, fc.nat(4), fc.nat(2)).map(([n, a, mo]) =>
      cmd(`close(i${n}, ${ACCOUNTS[a]}, month ${mo})`, async (m, w) => {
        const account = ACCOUNTS[a]!;
        const month = monthOf(MONTHS[mo]!);
        const key = `${account}|${month}`;
        const res = await w.instances[n]!.periods.close(account, month, { name: 'sim', reason: 'sim' });
        const t = m.totals(account, (e) => monthOf(e.timestamp_ms) === month);
        const prev = m.closed.get(key);
        const f = (res as unknown as { frozen: { quantity: string; event_count: number } }).frozen;
        if (prev !== undefined) {
          expect(res.already_closed).toBe(true);
          if (prev.exact) expect(f.quantity).toBe(prev.quantity.toString());
          return;
        }
        const exact = t.copies === t.count && t.optional === 0;
        if (exact) expect({ q: f.quantity, n: f.event_count }).toEqual({ q: t.quantity.toString(), n: t.count });
        m.closed.set(key, { quantity: BigInt(f.quantity), count: f.event_count, exact: true });
      }),
    ),
    fc.tuple(i, fc.nat(4), fc.nat(2)).map(([n, a, mo]) =>
      cmd(`reopen(i${n}, ${ACCOUNTS[a]}, month ${mo})`, async (m, w) => {
        const account = ACCOUNTS[a]!;
        const month = monthOf(MONTHS[mo]!);
        const res = await w.instances[n]!.periods.reopen(account, month, { name: 'sim', reason: 'sim' });
        expect(res.reopened).toBe(m.closed.delete(`${account}|${month}`));
      }),
    ),
    i.map((n) => cmd(`restart(i${n})`, (_m, w) => w.restart(n))),
    fc.constantFrom(10 * 60_000, 3 * 86_400_000).map((ms) => cmd(`advance(${ms / 60_000} min)`, async (_m, w) => w.clock.advance(ms))),
    fc.tuple(i, fc.nat(4)).map(([n, a]) =>
      cmd(`corrupt-and-restore(i${n}, shard of ${ACCOUNTS[a]})`, async (m, w) => {
        const db = w.instances[n]!.db;
        const shard = db.shards[shardOfAccount(ACCOUNTS[a]!, db.layout)]!;
        const cur = await shard.revalidate();
        const gens = await shard.history();
        // Only a generation history can rebuild can be restored losslessly.
        if (gens[gens.length - 1] !== cur.manifest.generation) return;
        // Rebuilt from a full copy and edit records, it is exactly what was committed.
        expect(await shard.readGeneration(cur.manifest.generation)).toEqual(cur.manifest);
        await w.store.put(shard.keys.current, new TextEncoder().encode('{"corrupt": true'));
        const probe = await postBatch(
          w.instances[(n + 1) % w.instances.length]!.app,
          freshEvents(m, 1, a, 1, 1).map((e) => ({ ...e, account_id: ACCOUNTS[a]! })),
        );
        m.seq--; // that event was never acknowledged (or, if another shard: acknowledged below)
        if (probe.status === 200) throw new Error(`an ingest into a corrupt shard was acknowledged: ${JSON.stringify(probe.body)}`);
        expect(probe.body.error.code).toBe('manifest_corrupt');
        const restored = await shard.restore(cur.manifest.generation);
        const { generation: _g, commit_id: _c, recent_commit_ids: _r, updated_at_ms: _u, restored_from: _f, ...content } = restored.manifest;
        const { generation: _g2, commit_id: _c2, recent_commit_ids: _r2, updated_at_ms: _u2, restored_from: _f2, ...expected } = cur.manifest;
        expect(content).toEqual(expected);
      }),
    ),
    i.map((n) => cmd(`check(i${n})`, (m, w) => checkInvariants(m, w, n))),
  ];
}
