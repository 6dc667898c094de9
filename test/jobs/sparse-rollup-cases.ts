/**
 * Rollups only where they aggregate (docs/compaction-and-gc.md): a rollup run whose rollup would
 * hold more than half its input rows writes none and marks its inputs sparse. What users rely on:
 * totals through auto, raw and rollup, cut ranges, verify, explain and period close stay exact
 * before and after the mark; a dense input still gets its rollup; marked segments are not read
 * again by the next run; a mark that lost a race with compaction commits nothing; rebuild-rollups
 * clears marks; a build that does not know the field reads marked segments as unrolled raw.
 */
import { describe, expect, it } from 'vitest';
import { runJob, type JobOptions } from '../../src/jobs/run.ts';
import { STORED_MANIFEST_FORMAT_FIELDS } from '../../src/manifest/parts.ts';
import { rawSegmentEntry, type ShardManifest } from '../../src/manifest/schema.ts';
import { HOUR_MS } from '../../src/model/time.ts';
import { Aggregator } from '../../src/query/aggregate.ts';
import { explain } from '../../src/query/explain.ts';
import type { QuerySpec } from '../../src/query/spec.ts';
import { verify } from '../../src/query/verify.ts';
import { rebuildRollups } from '../../src/rollup/rebuild.ts';
import type { GetOptions, GetResult } from '../../src/store/types.ts';
import { CountingStore } from '../support/counting-store.ts';
import { openInstance, postBatch, type Instance } from '../support/instance.ts';
import { MONTHS, reference, type RefEvent } from '../query/reference.ts';
import type { Backend } from './jobs-cases.ts';

const FAST: JobOptions = { compact: { graceMs: 0 }, gc: { safetyAgeMs: 0 }, rollup: { maxRollups: 3, graceMs: 0 } };
const FROM = MONTHS[0]!;
const TO = MONTHS[3]!;
const DAY = MONTHS[1]! + 4 * 86_400_000;
const MONTH = '2026-09';

function spec(account: string | undefined, source: QuerySpec['source'], from = FROM, to = TO): QuerySpec {
  return { accountId: account, from, to, groupBy: [], filters: [], metrics: ['sum', 'count'], source, orderBy: [], limit: undefined };
}

async function total(inst: Instance, account: string | undefined, source: QuerySpec['source'], from = FROM, to = TO): Promise<[bigint, number]> {
  const l = (await inst.engine.aggregate(spec(account, source, from, to))).lines[0];
  return l === undefined ? [0n, 0] : [BigInt(l.quantity as string), l.count as number];
}

function ev(id: string, account: string, ts: number, quantity: number): RefEvent {
  return {
    event_id: id,
    kind: 'Usage',
    account_id: account,
    product_id: 'chat',
    meter_id: 'tokens',
    source: 'api',
    unit: 'tokens',
    timestamp_ms: ts,
    quantity,
    dimensions: {},
  };
}

/** 40 accounts, one event each per hour over 6 hours: no rollup key repeats, a rollup would hold every row. */
function sparseEvents(tag: string, day = DAY): RefEvent[] {
  return Array.from({ length: 240 }, (_, i) => ev(`${tag}-${i}`, `sp-${i % 40}`, day + Math.floor(i / 40) * HOUR_MS + (i % 40) * 1000, 1 + i));
}

const want = (events: readonly RefEvent[], account?: string, from = FROM, to = TO) =>
  reference(events, { ...(account === undefined ? {} : { account }), from, to }).get('[]') ?? [0n, 0];

/** Totals through every source and a cut range equal the reference; verify finds no drift. */
async function expectExact(inst: Instance, events: readonly RefEvent[], accounts: readonly string[], label: string, rollupCounts: boolean): Promise<void> {
  for (const source of ['auto', 'raw'] as const) expect(await total(inst, undefined, source), `${label} ${source}`).toEqual(want(events));
  expect(await total(inst, undefined, 'rollup'), `${label} rollup`).toEqual(rollupCounts ? want(events) : [0n, 0]);
  // A range cutting hours: auto exact over it; rollup over the hours starting in it.
  const from = DAY + HOUR_MS + 1_234_567;
  const to = DAY + 4 * HOUR_MS + 999;
  for (const account of accounts) {
    expect(await total(inst, account, 'auto', from, to), `${label} cut auto ${account}`).toEqual(want(events, account, from, to));
    const hours = want(events, account, Math.ceil(from / HOUR_MS) * HOUR_MS, Math.ceil(to / HOUR_MS) * HOUR_MS);
    expect(await total(inst, account, 'rollup', from, to), `${label} cut rollup ${account}`).toEqual(rollupCounts ? hours : [0n, 0]);
    const v = await verify(inst.engine, account, FROM, TO);
    expect([v.matches, v.drift], `${label} verify ${account}`).toEqual([true, '0']);
  }
}

async function manifestOf(inst: Instance): Promise<ShardManifest> {
  return (await inst.db.shards[0]!.revalidate()).manifest as ShardManifest;
}

const rawGets = (store: CountingStore) => store.take().filter((g) => g.key.includes('/segments/raw/'));

/** A store that runs `hook` once, before answering the first GET of a raw segment after `arm`. */
class HookStore extends CountingStore {
  private hook: (() => Promise<void>) | undefined;
  arm(hook: () => Promise<void>): void {
    this.hook = hook;
  }
  override async get(key: string, opts?: GetOptions): Promise<GetResult | null> {
    const hook = this.hook;
    if (hook !== undefined && key.includes('/segments/raw/')) {
      this.hook = undefined;
      await hook();
    }
    return super.get(key, opts);
  }
}

export function describeSparseRollups(name: string, make: () => Promise<Backend>): void {
  describe(`rollups only where they aggregate: ${name}`, () => {
    it('inputs a rollup would not halve are marked sparse, not rolled: totals exact through every source, verify, explain and period close; the next run reads nothing', async () => {
      const { store, prefix } = await make();
      const counting = new CountingStore(store);
      const a = await openInstance(counting, prefix, { shards: 1, buckets: 4 });
      const events = sparseEvents('sp');
      const accounts = ['sp-0', 'sp-7', 'sp-39'];
      await postBatch(a.app, events);
      await runJob(a.db, 'compact', FAST);
      await expectExact(a, events, accounts, 'before', false);

      const report = (await runJob(a.db, 'rollup', FAST)).results[0]!;
      expect(report).toMatchObject({ committed: true, rows_in: events.length, rows_out: 0 });
      expect(report.rollup_id).toBeUndefined();
      const m = await manifestOf(a);
      expect(m.rollups).toEqual([]);
      expect(m.segments.length).toBeGreaterThan(0);
      expect(report.sparse_inputs).toBe(m.segments.length);
      for (const s of m.segments) expect([s.rollup, s.rolled_by], s.id).toEqual(['sparse', undefined]);
      await expectExact(a, events, accounts, 'after', true);
      // A fresh instance (cold cache) answers the same.
      await expectExact(await openInstance(counting, prefix, { shards: 1, buckets: 4, seed: 2 }), events, accounts, 'cold', true);

      const x = await explain(a.engine, 'sp-7', FROM, TO);
      expect(x.segments.length).toBeGreaterThan(0);
      for (const s of x.segments) expect([s.rollup_sparse, s.rolled_by]).toEqual([true, null]);
      expect(x.rollups).toEqual([]);

      // The period's live view (auto) and its close (raw) agree with the reference.
      const mine = events.filter((e) => e.account_id === 'sp-7');
      const live = await a.periods.get('sp-7', MONTH);
      expect((live as unknown as { live: { quantity: string; event_count: number } }).live).toEqual({
        quantity: String(want(mine)[0]),
        event_count: mine.length,
      });
      const closed = await a.periods.close('sp-7', MONTH, { name: 'test', reason: 'sparse' });
      expect((closed as unknown as { frozen: { quantity: string; event_count: number } }).frozen).toMatchObject({
        quantity: String(want(mine)[0]),
        event_count: mine.length,
      });

      // Marked segments are never read by the rollup job again.
      rawGets(counting);
      const next = (await runJob(a.db, 'rollup', FAST)).results[0]!;
      expect(next).toMatchObject({ committed: false, inputs: 0, reason: 'nothing to roll up' });
      expect(rawGets(counting)).toEqual([]);

      // No new manifest format: a build that drops the unknown field still reads this shard.
      const current = await store.get(a.db.shards[0]!.keys.current);
      if (current === null || current.notModified) throw new Error('no current.json');
      expect(JSON.parse(new TextDecoder().decode(current.body)).format).toBeLessThan(STORED_MANIFEST_FORMAT_FIELDS);
      // Such a build (its schema drops `rollup`) plans the marked segments as unrolled raw: the same totals.
      const older = rawSegmentEntry.omit({ rollup: true });
      const stripped = { ...m, segments: m.segments.map((s) => older.parse(s)) };
      for (const s of stripped.segments) expect('rollup' in s).toBe(false);
      for (const source of ['auto', 'raw'] as const) {
        const q = spec(undefined, source);
        const agg = new Aggregator(q);
        const plan = a.engine.plan(stripped, q);
        expect(plan.raw.length).toBe(m.segments.length);
        await a.engine.run([plan], q, agg);
        const l = agg.lines()[0]!;
        expect([BigInt(l.quantity as string), l.count], `older build ${source}`).toEqual(want(events));
      }
    }, 120_000);

    it('a dense input still gets its rollup, and sparse and dense shards coexist with exact totals', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix, { shards: 2, buckets: 8 });
      // One account, many events in two hours: a rollup of 2 rows for 300 events.
      const dense = Array.from({ length: 300 }, (_, i) => ev(`dn-${i}`, 'dense-acct', DAY + Math.floor(i / 150) * HOUR_MS + i * 1000, 2 + i));
      const sparse = sparseEvents('sp2').filter((e) => e.account_id !== 'dense-acct');
      const denseShard = a.db.shardOf('dense-acct').shard;
      // Sparse accounts of the other shard only, so each shard's rollup run sees one kind of input.
      const others = sparse.filter((e) => a.db.shardOf(e.account_id).shard !== denseShard);
      const all = [...dense, ...others];
      await postBatch(a.app, all);
      await runJob(a.db, 'compact', FAST);
      await runJob(a.db, 'rollup', FAST);
      const dm = (await a.db.shards[denseShard]!.revalidate()).manifest;
      expect(dm.rollups.length).toBe(1);
      expect(dm.rollups[0]!.rows).toBe(2);
      for (const s of dm.segments) expect([s.rolled_by, s.rollup], s.id).toEqual([dm.rollups[0]!.id, undefined]);
      const sm = (await a.db.shards[1 - denseShard]!.revalidate()).manifest;
      expect(sm.rollups).toEqual([]);
      for (const s of sm.segments) expect(s.rollup, s.id).toBe('sparse');
      for (const source of ['auto', 'raw', 'rollup'] as const) expect(await total(a, undefined, source), source).toEqual(want(all));
      expect(await total(a, 'dense-acct', 'rollup')).toEqual(want(dense));
      // Marked segments stay out of later runs whatever their ratio (1: every rollup written): nothing to do.
      expect((await runJob(a.db, 'rollup', { ...FAST, rollup: { ...FAST.rollup, maxRowsRatio: 1 } })).results.every((r) => r.committed === false)).toBe(true);
    }, 120_000);

    it('a mark that lost a race with compaction (its inputs replaced meanwhile) commits nothing; the next run decides on the new segment', async () => {
      const { store, prefix } = await make();
      const hooked = new HookStore(store);
      const a = await openInstance(hooked, prefix, { shards: 1, buckets: 4 });
      const b = await openInstance(store, prefix, { shards: 1, buckets: 4, seed: 2, clock: a.clock });
      const first = sparseEvents('r1');
      await postBatch(a.app, first);
      await runJob(a.db, 'compact', FAST);
      const before = (await manifestOf(a)).segments.map((s) => s.id);
      // While the rollup run reads its inputs, another instance ingests more of the same day and
      // compacts: the small compacted input is merged away.
      const more = sparseEvents('r2').map((e) => ({ ...e, timestamp_ms: e.timestamp_ms + 6 * HOUR_MS }));
      hooked.arm(async () => {
        await postBatch(b.app, more);
        const c = (await runJob(b.db, 'compact', FAST)).results[0]!;
        expect(c.committed).toBe(true);
      });
      const report = (await runJob(a.db, 'rollup', FAST)).results[0]!;
      expect(report).toMatchObject({ committed: false, sparse_inputs: 0 });
      const m = await manifestOf(a);
      expect(m.segments.some((s) => before.includes(s.id))).toBe(false);
      for (const s of m.segments) expect([s.rollup, s.rolled_by], s.id).toEqual([undefined, undefined]);
      const all = [...first, ...more];
      for (const source of ['auto', 'raw'] as const) expect(await total(a, undefined, source), source).toEqual(want(all));
      // The next run reads the merged segment and marks it.
      const next = (await runJob(a.db, 'rollup', FAST)).results[0]!;
      expect(next).toMatchObject({ committed: true, rows_in: all.length });
      for (const s of (await manifestOf(a)).segments) expect(s.rollup).toBe('sparse');
      for (const source of ['auto', 'raw', 'rollup'] as const) expect(await total(a, undefined, source), source).toEqual(want(all));
    }, 120_000);

    it('compaction leaves a marked segment alone, as it does a rolled one: newer data of the next day gets a segment of its own, marked in turn', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix, { shards: 1, buckets: 4 });
      const first = sparseEvents('cm1');
      const later = sparseEvents('cm2', DAY + 86_400_000);
      await postBatch(a.app, first);
      await runJob(a.db, 'compact', FAST);
      await runJob(a.db, 'rollup', FAST);
      const [marked] = (await manifestOf(a)).segments;
      expect(marked?.rollup).toBe('sparse');
      await postBatch(a.app, later);
      // Both small, of adjacent days: unmarked, the two would be packed together (re-written, re-read by rollup).
      for (let i = 0; i < 3; i++) await runJob(a.db, 'compact', FAST);
      const after = (await manifestOf(a)).segments;
      expect(after.length).toBe(2);
      expect(after.find((s) => s.id === marked!.id)).toEqual(marked);
      const all = [...first, ...later];
      for (const source of ['auto', 'raw'] as const) expect(await total(a, undefined, source), source).toEqual(want(all));
      expect((await runJob(a.db, 'rollup', FAST)).results[0]).toMatchObject({ committed: true, rows_in: later.length, rows_out: 0, sparse_inputs: 1 });
      for (const s of (await manifestOf(a)).segments) expect(s.rollup, s.id).toBe('sparse');
      for (const source of ['auto', 'raw', 'rollup'] as const) expect(await total(a, undefined, source), source).toEqual(want(all));
    }, 120_000);

    it('rebuild-rollups clears the marks in its range (totals exact throughout); the next run reconsiders those segments', async () => {
      const { store, prefix } = await make();
      const counting = new CountingStore(store);
      const a = await openInstance(counting, prefix, { shards: 1, buckets: 4 });
      const sept = sparseEvents('rb1');
      const oct = sparseEvents('rb2', MONTHS[2]! + 3 * 86_400_000);
      const all = [...sept, ...oct];
      // One month after the other: separate segments (a marked one is not merged again).
      for (const batch of [sept, oct]) {
        await postBatch(a.app, batch);
        await runJob(a.db, 'compact', FAST);
        await runJob(a.db, 'rollup', FAST);
      }
      const marked = (await manifestOf(a)).segments;
      expect(marked.every((s) => s.rollup === 'sparse')).toBe(true);
      const inSept = marked.filter((s) => s.min_ts < MONTHS[2]!).length;
      expect(inSept).toBeGreaterThan(0);
      expect(inSept).toBeLessThan(marked.length);

      const dry = await rebuildRollups(a.db, { from: MONTHS[1]!, to: MONTHS[2]!, dryRun: true });
      expect([dry.cleared_sparse, dry.dropped_rollups]).toEqual([inSept, 0]);
      expect((await manifestOf(a)).segments.every((s) => s.rollup === 'sparse')).toBe(true);
      const r = await rebuildRollups(a.db, { from: MONTHS[1]!, to: MONTHS[2]!, graceMs: 0 });
      expect([r.cleared_sparse, r.dropped_rollups, r.shards[0]!.committed]).toEqual([inSept, 0, true]);
      const after = await manifestOf(a);
      for (const s of after.segments) expect(s.rollup, s.id).toBe(s.min_ts < MONTHS[2]! ? undefined : 'sparse');
      for (const source of ['auto', 'raw'] as const) expect(await total(a, undefined, source), source).toEqual(want(all));
      // source=rollup counts what the rollup job processed: October is still marked, September not any more.
      expect(await total(a, undefined, 'rollup')).toEqual(want(oct));

      rawGets(counting);
      // Unmarked, September could merge with others again; here there is nothing to merge it with.
      expect((await runJob(a.db, 'rollup', FAST)).results[0]).toMatchObject({ committed: true, sparse_inputs: inSept });
      expect(rawGets(counting).length).toBeGreaterThanOrEqual(inSept);
      for (const source of ['auto', 'raw', 'rollup'] as const) expect(await total(a, undefined, source), source).toEqual(want(all));
    }, 120_000);
  });
}
