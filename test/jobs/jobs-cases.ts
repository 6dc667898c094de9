/**
 * Background jobs against an independent reference: any interleaving of ingest, compaction,
 * rollup and GC leaves totals through auto, raw and (after a full rollup) rollup equal to the
 * reference with zero drift; concurrent job runs on different instances never roll a segment
 * twice or delete a referenced object; late events, cold duplicates, conflicts, grace period.
 */
import { describe, expect, it } from 'vitest';
import { runJob, type JobOptions } from '../../src/jobs/run.ts';
import { LEAN_SLACK_MS } from '../../src/compact/strip-hashes.ts';
import { FaultPlan, withFaults } from '../../src/store/faulty.ts';
import { referencedKeys } from '../../src/compact/gc.ts';
import { seededRandom } from '../../src/model/deps.ts';
import type { QuerySpec } from '../../src/query/spec.ts';
import { listAll, type ObjectStore } from '../../src/store/types.ts';
import { openInstance, postBatch, type Instance } from '../support/instance.ts';
import { generate, MONTHS, reference, type RefEvent } from '../query/reference.ts';
import { usage } from '../support/fixtures.ts';
import { verify } from '../../src/query/verify.ts';
import { bucketOf, shardOfAccount } from '../../src/model/bucket.ts';
import { checkHashes, checkRawSegment, checkRollup } from '../../src/cli/verify-objects.ts';
import { decodeStored } from '../../src/manifest/codec.ts';
import { needsRawGroupsFormat, STORED_MANIFEST_FORMAT_MAX, STORED_MANIFEST_FORMAT_RAW_GROUPS } from '../../src/manifest/parts.ts';
import { UnsupportedFormatError } from '../../src/errors.ts';
import { CountingStore } from '../support/counting-store.ts';
import type { DeepReadonly, RawSegmentEntry } from '../../src/manifest/schema.ts';

export interface Backend {
  store: ObjectStore;
  prefix: string;
}

const FAST: JobOptions = { compact: { graceMs: 0 }, gc: { safetyAgeMs: 0 }, rollup: { maxRollups: 3, graceMs: 0 } };
/** FAST, with a rollup written whatever it saves: for cases about rollups over data whose keys barely repeat by hour. */
const ALWAYS_ROLL: JobOptions = { ...FAST, rollup: { ...FAST.rollup, maxRowsRatio: 1 } };
const FROM = MONTHS[0]!;
const TO = MONTHS[3]!;

function spec(account: string | undefined, source: QuerySpec['source'], from = FROM, to = TO): QuerySpec {
  return { accountId: account, from, to, groupBy: [], filters: [], metrics: ['sum', 'count'], source, orderBy: [], limit: undefined };
}

/** A usage event with one product, meter, source and unit: the fields a case varies are the arguments. */
function plainEvent(eventId: string, accountId: string, timestampMs: number, quantity: number) {
  return { event_id: eventId, account_id: accountId, product_id: 'p', meter_id: 'm', source: 'api', unit: 'u', timestamp_ms: timestampMs, quantity };
}

async function total(inst: Instance, account: string | undefined, source: QuerySpec['source'], from = FROM, to = TO): Promise<[bigint, number]> {
  const r = await inst.engine.aggregate(spec(account, source, from, to));
  const l = r.lines[0];
  return l === undefined ? [0n, 0] : [BigInt(l.quantity as string), l.count as number];
}

/**
 * One account's raw total on `inst` over grouped segments: exact, and every GET of a grouped
 * object a ranged one smaller than the object (its directory and groups). Answers those GETs.
 */
async function expectGroupsReadByRange(
  inst: Instance,
  counting: CountingStore,
  account: string,
  events: readonly { account_id: string; quantity: number }[],
  segs: readonly DeepReadonly<RawSegmentEntry>[],
) {
  const entryOf = new Map(segs.map((x) => [x.key, x]));
  counting.take();
  const mine = events.filter((e) => e.account_id === account);
  expect(await total(inst, account, 'raw')).toEqual([BigInt(mine.reduce((n, e) => n + e.quantity, 0)), mine.length]);
  const reads = counting.take().filter((g) => entryOf.get(g.key)?.directory_bytes !== undefined);
  expect(reads.length).toBeGreaterThan(0);
  for (const g of reads) {
    expect(g.range, g.key).toBeDefined();
    expect(g.bytes, g.key).toBeLessThan(entryOf.get(g.key)!.bytes);
  }
  return reads;
}

async function expectMatchesReference(inst: Instance, accepted: RefEvent[], accounts: string[], label: string): Promise<void> {
  for (const account of accounts) {
    const want = reference(accepted, { account, from: FROM, to: TO }).get('[]') ?? [0n, 0];
    expect(await total(inst, account, 'auto'), `${label} auto ${account}`).toEqual(want);
    expect(await total(inst, account, 'raw'), `${label} raw ${account}`).toEqual(want);
    // An hour-cut range exercises the rolled-raw edge path.
    const from = FROM + 5 * 86_400_000 + 1_234_567;
    const to = TO - 3 * 86_400_000 - 999;
    const cut = reference(accepted, { account, from, to }).get('[]') ?? [0n, 0];
    expect(await total(inst, account, 'auto', from, to), `${label} cut ${account}`).toEqual(cut);
    const v = await verify(inst.engine, account, FROM, TO);
    expect(v.matches, `${label} verify ${account}`).toBe(true);
    expect(v.drift).toBe('0');
  }
}

/** Every object any live manifest references exists; no raw segment is in two rollups. */
async function expectStoreConsistent(inst: Instance): Promise<void> {
  const keys = new Set<string>();
  for await (const o of listAll(inst.db.store, `${inst.db.prefix}/`)) keys.add(o.key);
  for (const shard of inst.db.shards) {
    const snap = await shard.revalidate();
    const refs = new Set<string>();
    referencedKeys(snap.manifest, refs);
    for (const k of refs) expect(keys.has(k), `missing ${k}`).toBe(true);
    const rolledIn = new Map<string, string>();
    for (const r of snap.manifest.rollups) {
      for (const id of r.inputs) {
        expect(rolledIn.has(id), `segment ${id} in two rollups`).toBe(false);
        rolledIn.set(id, r.id);
      }
    }
    for (const s of snap.manifest.segments) if (s.rolled_by !== undefined) expect(rolledIn.get(s.id)).toBe(s.rolled_by);
  }
}

export function describeJobs(name: string, make: () => Promise<Backend>): void {
  describe(`background jobs: ${name}`, () => {
    it('random interleavings of ingest, compaction, rollup and GC keep every total exact (auto = raw = reference, zero drift)', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix, { seed: 1 });
      const b = await openInstance(store, prefix, { seed: 2 });
      const events = generate(7, 1200, 6);
      const accounts = [...new Set(events.map((e) => e.account_id))].sort();
      const rnd = seededRandom(99);
      const accepted: RefEvent[] = [];
      let next = 0;
      for (let step = 0; step < 24; step++) {
        const inst = rnd() < 0.5 ? a : b;
        const op = rnd();
        if (op < 0.45 && next < events.length) {
          const batch = events.slice(next, next + 100);
          next += 100;
          const r = await postBatch(inst.app, batch);
          expect(r.body.accepted).toBe(batch.length);
          accepted.push(...batch);
          if (rnd() < 0.3) expect((await postBatch(inst.app, batch.slice(0, 20))).body.duplicates).toBe(20);
        } else if (op < 0.65) await runJob(inst.db, 'compact', FAST);
        else if (op < 0.85) await runJob(inst.db, 'rollup', FAST);
        else await runJob(inst.db, 'gc', FAST);
        if (step % 6 === 5) await expectMatchesReference(inst, accepted, accounts.slice(0, 3), `step ${step}`);
      }
      // Full rollup: compaction then rollup until nothing is left; rollup-only totals then match too.
      for (let i = 0; i < 4; i++) {
        await runJob(a.db, 'compact', FAST);
        await runJob(a.db, 'rollup', FAST);
      }
      await expectMatchesReference(a, accepted, accounts, 'final');
      for (const account of accounts) {
        expect(await total(b, account, 'rollup')).toEqual(reference(accepted, { account, from: FROM, to: TO }).get('[]') ?? [0n, 0]);
      }
      const all = reference(accepted, { from: FROM, to: TO }).get('[]')!;
      expect(await total(b, undefined, 'auto')).toEqual(all);
      await runJob(b.db, 'gc', FAST);
      await expectStoreConsistent(b);
      for (const s of a.db.shards) expect((await s.revalidate()).manifest.rollups.length).toBeLessThanOrEqual(3 + 1);
    }, 180_000);

    it('rollups written as row groups: totals exact through compaction, rollup, merge and query; a one-account read fetches only its groups', async () => {
      const { store, prefix } = await make();
      const counting = new CountingStore(store);
      const a = await openInstance(counting, prefix, { seed: 3 });
      const events = generate(11, 1500, 9);
      const accounts = [...new Set(events.map((e) => e.account_id))].sort();
      // Tiny groups and at most 2 rollups a shard: every rollup is grouped, and merges regroup them
      // (written whatever they save: these events barely repeat a key within an hour).
      const grouped: JobOptions = { ...FAST, rollup: { maxRollups: 2, graceMs: 0, groupRows: 6, maxRowsRatio: 1 } };
      for (let i = 0; i < events.length; i += 250) {
        await postBatch(a.app, events.slice(i, i + 250));
        await runJob(a.db, 'compact', grouped);
        await runJob(a.db, 'rollup', grouped);
      }
      for (let i = 0; i < 3; i++) {
        await runJob(a.db, 'compact', grouped);
        await runJob(a.db, 'rollup', grouped);
      }
      const rollups = (await Promise.all(a.db.shards.map(async (s) => (await s.revalidate()).manifest.rollups))).flat();
      expect(rollups.length).toBeGreaterThan(0);
      for (const r of rollups) expect(r.directory_bytes, r.id).toBeGreaterThan(0);
      for (const [i, s] of a.db.shards.entries()) {
        for (const r of (await s.revalidate()).manifest.rollups) expect(await checkRollup(counting, i, r)).toEqual([]);
      }
      await expectMatchesReference(a, events, accounts, 'grouped');
      // Rollup-only totals come from the groups alone, through a fresh instance (cold cache).
      const b = await openInstance(counting, prefix, { seed: 4 });
      for (const account of accounts) {
        counting.take();
        expect(await total(b, account, 'rollup'), account).toEqual(reference(events, { account, from: FROM, to: TO }).get('[]') ?? [0n, 0]);
        const reads = counting.take().filter((g) => g.key.includes('/rollup'));
        expect(reads.length).toBeGreaterThan(0);
        for (const g of reads) expect(g.range, `${account} ${g.key}`).toBeDefined();
      }
      expect(await total(b, undefined, 'rollup')).toEqual(reference(events, { from: FROM, to: TO }).get('[]'));
    }, 180_000);

    it('two compactions and two rollups at once on different instances: same totals, nothing rolled twice, nothing referenced deleted', async () => {
      const { store, prefix } = await make();
      const insts = await Promise.all([1, 2, 3].map((s) => openInstance(store, prefix, { seed: s })));
      const events = generate(8, 800, 5);
      for (let i = 0; i < events.length; i += 50) await postBatch(insts[i % 3]!.app, events.slice(i, i + 50));
      const before = await total(insts[0]!, undefined, 'raw');
      await Promise.all([runJob(insts[0]!.db, 'compact'), runJob(insts[1]!.db, 'compact')]);
      await Promise.all([runJob(insts[1]!.db, 'rollup'), runJob(insts[2]!.db, 'rollup'), runJob(insts[0]!.db, 'gc')]);
      await Promise.all([runJob(insts[0]!.db, 'compact'), runJob(insts[2]!.db, 'rollup'), runJob(insts[1]!.db, 'gc')]);
      for (const inst of insts) {
        expect(await total(inst, undefined, 'auto')).toEqual(before);
        expect(await total(inst, undefined, 'raw')).toEqual(before);
      }
      await expectStoreConsistent(insts[2]!);
    }, 120_000);

    it('a late event for an hour already rolled up counts at once, and in rollups after the next run', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix);
      const hour = Date.UTC(2026, 8, 10, 14);
      const ev = (i: number, q: number, ts = hour + 60_000 * i) => ({
        event_id: `late-${i}`,
        account_id: 'acme',
        product_id: 'chat',
        meter_id: 'tokens',
        source: 'api',
        unit: 'tokens',
        timestamp_ms: ts,
        quantity: q,
      });
      await postBatch(a.app, [ev(1, 10), ev(2, 20)]);
      await runJob(a.db, 'compact', FAST);
      expect((await runJob(a.db, 'rollup', FAST)).results.some((r) => r.committed === true)).toBe(true);
      expect(await total(a, 'acme', 'rollup')).toEqual([30n, 2]);
      await postBatch(a.app, [ev(3, 5)]);
      expect(await total(a, 'acme', 'auto')).toEqual([35n, 3]);
      expect(await total(a, 'acme', 'rollup')).toEqual([30n, 2]);
      await runJob(a.db, 'compact', FAST);
      await runJob(a.db, 'rollup', FAST);
      expect(await total(a, 'acme', 'rollup')).toEqual([35n, 3]);
      expect((await verify(a.engine, 'acme', FROM, TO)).matches).toBe(true);
    });

    it('past the dedupe window: a duplicate is removed by compaction, a conflicting later copy is quarantined out of every total', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix, { ingest: { dedupeWindowMs: 60_000 } });
      const ts = Date.UTC(2026, 8, 3, 9);
      const ev = (id: string, q: number) => plainEvent(id, 'acme', ts, q);
      await postBatch(a.app, [ev('dup', 7), ev('clash', 1)]);
      await runJob(a.db, 'compact', FAST);
      a.clock.advance(120_000); // past the window: the same ids are accepted again
      const again = await postBatch(a.app, [ev('dup', 7), ev('clash', 2)]);
      expect(again.body.accepted).toBe(2);
      expect(await total(a, 'acme', 'raw')).toEqual([17n, 4]);
      const report = await runJob(a.db, 'compact', FAST);
      expect(report.results.reduce((s, r) => s + Number(r.duplicates_removed ?? 0), 0)).toBe(1);
      expect(report.results.reduce((s, r) => s + Number(r.quarantined ?? 0), 0)).toBe(1);
      await runJob(a.db, 'rollup', FAST);
      // The duplicate is gone; the first copy of the conflict stays, the later one is out of every total.
      expect(await total(a, 'acme', 'raw')).toEqual([8n, 2]);
      expect(await total(a, 'acme', 'rollup')).toEqual([8n, 2]);
      expect(await total(a, 'acme', 'auto')).toEqual([8n, 2]);
      // Totals never change silently: the usage answer says how many events the range holds out.
      const usage = await a.app.request('/v1/accounts/acme/usage?from=2026-09-01&to=2026-10-01');
      expect(await usage.json()).toMatchObject({ lines: [{ quantity: '8', count: 2 }], quarantined_events: 1 });
      const res = await a.app.request('/v1/admin/conflicts');
      const body = (await res.json()) as { conflicts: Record<string, any>[] };
      expect(body.conflicts).toEqual([
        expect.objectContaining({
          event_id: 'clash',
          account_id: 'acme',
          status: 'quarantined',
          kind: 'payload',
          timestamp_ms: ts,
          kept: expect.objectContaining({ quantity: '1' }),
          quarantined: expect.objectContaining({ quantity: '2' }),
        }),
      ]);
      // A period closed now freezes the first copy only; an export would too (it reads what queries read).
      const closed = await a.app.request('/v1/accounts/acme/periods/2026-09/close', { method: 'POST' });
      expect(await closed.json()).toMatchObject({ frozen: { quantity: '8', event_count: 2 } });
    });

    it('resolving a quarantined conflict: keep first, keep both, keep second — each a commit with an audit record', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix, { ingest: { dedupeWindowMs: 60_000 } });
      const ts = Date.UTC(2026, 8, 3, 9);
      const ev = (id: string, q: number) => plainEvent(id, 'acme', ts, q);
      await postBatch(a.app, [ev('k1', 10), ev('k2', 20), ev('k3', 30)]);
      await runJob(a.db, 'compact', FAST);
      a.clock.advance(120_000);
      await postBatch(a.app, [ev('k1', 11), ev('k2', 22), ev('k3', 33)]);
      await runJob(a.db, 'compact', FAST);
      expect(await total(a, 'acme', 'raw')).toEqual([60n, 3]);
      const list = async () =>
        ((await (await a.app.request('/v1/admin/conflicts')).json()) as { conflicts: { id: string; event_id: string; status: string; resolution?: unknown }[] })
          .conflicts;
      const idOf = async (eventId: string) => (await list()).find((c) => c.event_id === eventId)!.id;
      const resolve = (id: string, keep: string, reason = 'checked with the customer') =>
        a.app.request(`/v1/admin/conflicts/${id}/resolve`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ keep, reason }),
        });

      const first = await resolve(await idOf('k1'), 'first');
      expect(first.status).toBe(200);
      expect(await first.json()).toMatchObject({
        already_resolved: false,
        conflict: { status: 'resolved', resolution: { keep: 'first', actor: 'anonymous', reason: 'checked with the customer' } },
      });
      expect(await total(a, 'acme', 'raw')).toEqual([60n, 3]);
      const both = await resolve(await idOf('k2'), 'both');
      expect(await both.json()).toMatchObject({ conflict: { status: 'resolved', resolution: { keep: 'both' } } });
      expect(await total(a, 'acme', 'raw')).toEqual([82n, 4]);
      const second = await resolve(await idOf('k3'), 'second');
      expect(await second.json()).toMatchObject({ conflict: { status: 'resolved', resolution: { keep: 'second' } } });
      // The second copy (33) is back and a Retraction (-30) cancels the first: 82 + 33 - 30.
      expect(await total(a, 'acme', 'raw')).toEqual([85n, 6]);
      // Resolving again changes nothing; a bad decision or an unknown id is refused by name.
      expect(await (await resolve(await idOf('k3'), 'both')).json()).toMatchObject({ already_resolved: true, conflict: { resolution: { keep: 'second' } } });
      expect((await resolve(await idOf('k3'), 'neither')).status).toBe(400);
      expect((await resolve('no-such-conflict', 'first')).status).toBe(404);
      expect((await resolve(await idOf('k3'), 'first', '')).status).toBe(400);
      // What was decided survives compaction and rollup: the pairs are two events now, nothing re-quarantined.
      for (let i = 0; i < 2; i++) {
        await runJob(a.db, 'compact', FAST);
        await runJob(a.db, 'rollup', FAST);
      }
      expect(await total(a, 'acme', 'auto')).toEqual([85n, 6]);
      expect(await total(a, 'acme', 'rollup')).toEqual([85n, 6]);
      expect((await list()).every((c) => c.status === 'resolved')).toBe(true);
      const usage = await a.app.request('/v1/accounts/acme/usage?from=2026-09-01&to=2026-10-01');
      expect(await usage.json()).toMatchObject({ quarantined_events: 0 });
    });

    it('one event_id under several accounts is several events, and the gc run reports the reuse in every shard it touches', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix, { shards: 4, buckets: 16 });
      const ts = Date.UTC(2026, 8, 3, 9);
      const ev = (account: string, q: number) => plainEvent('reused-id', account, ts, q);
      const accounts = ['tenant-a', 'tenant-b', 'tenant-c', 'tenant-d', 'tenant-e', 'tenant-f'];
      expect(
        (
          await postBatch(
            a.app,
            accounts.map((acct, i) => ev(acct, i + 1)),
          )
        ).body,
      ).toMatchObject({ accepted: 6, conflicts: 0 });
      await postBatch(a.app, [{ ...ev('tenant-a', 1), event_id: 'unique-1' }]);
      await runJob(a.db, 'compact', FAST);
      const gc = await runJob(a.db, 'gc', FAST);
      const summary = gc.results[gc.results.length - 1] as { id_reuse: { reuses_found: number; new_segments: number } };
      // Every ordered pair of the six accounts: 30 records, each in its account's shard.
      expect(summary.id_reuse.reuses_found).toBe(30);
      const { conflicts } = (await (await a.app.request('/v1/admin/conflicts')).json()) as {
        conflicts: { kind: string; account_id: string; other_account_id: string; event_id: string; status: string; shard: number }[];
      };
      const reuse = conflicts.filter((c) => c.kind === 'id_reuse');
      expect(reuse).toHaveLength(30);
      expect(reuse.every((c) => c.event_id === 'reused-id' && c.status === 'reported' && c.account_id !== c.other_account_id)).toBe(true);
      for (const c of reuse) expect(c.shard).toBe(shardOfAccount(c.account_id, a.db.layout));
      expect(new Set(reuse.map((c) => `${c.account_id}>${c.other_account_id}`)).size).toBe(30);
      // Both events are counted; a second run finds nothing new (its watermark moved).
      for (const [i, acct] of accounts.entries()) expect((await total(a, acct, 'raw'))[0]).toBe(BigInt(i + 1) + (acct === 'tenant-a' ? 1n : 0n));
      const again = await runJob(a.db, 'gc', FAST);
      expect((again.results[again.results.length - 1] as { id_reuse: { reuses_found: number; new_segments: number } }).id_reuse).toMatchObject({
        new_segments: 0,
        reuses_found: 0,
      });
    });

    it('without options, the gc run finds id reuse across the whole default dedupe window (35 days), not a shorter one', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix, { shards: 2, buckets: 8 });
      const ev = (account: string) => plainEvent('reused-late', account, Date.UTC(2026, 8, 3, 9), 1);
      await postBatch(a.app, [ev('tenant-a')]);
      await runJob(a.db, 'compact', FAST);
      // The same id under another account, 20 days of ingest time later.
      a.clock.advance(20 * 24 * 3_600_000);
      await postBatch(a.app, [ev('tenant-b')]);
      await runJob(a.db, 'compact', FAST);
      const gc = await runJob(a.db, 'gc', FAST);
      const summary = gc.results[gc.results.length - 1] as { id_reuse: { reuses_found: number } };
      expect(summary.id_reuse.reuses_found).toBe(2);
    });

    it('one compaction job catches up a backlog larger than one bounded run takes; with no catch-up budget it takes one run', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix, { shards: 1, buckets: 4 });
      const day = Date.UTC(2026, 8, 10);
      const ev = (i: number) => usage(i, { event_id: `backlog-${i}`, account_id: 'acct-backlog', timestamp_ms: day + i * 1000, quantity: 1 + (i % 7) });
      // 150 commits: 150 young segments, more than two runs of 64 take.
      for (let c = 0; c < 150; c++) await postBatch(a.app, [ev(2 * c), ev(2 * c + 1)]);
      const young = async () => (await a.db.shards[0]!.revalidate()).manifest.segments.filter((s) => s.compacted !== true).length;
      expect(await young()).toBe(150);
      const opts = { ...FAST, compact: { graceMs: 0, maxInputSegments: 64 } };
      const one = await runJob(a.db, 'compact', { ...opts, catchUp: { ms: 0, maxRuns: 1 } });
      expect(one.results[0]).toMatchObject({ committed: true, runs: 1, inputs: 64 });
      expect(await young()).toBe(86);
      const all = await runJob(a.db, 'compact', opts);
      expect(all.results[0]).toMatchObject({ committed: true });
      expect((all.results[0] as { runs: number }).runs).toBeGreaterThanOrEqual(2);
      expect(await young()).toBe(0);
      const sum = Array.from({ length: 300 }, (_, i) => 1 + (i % 7)).reduce((x, y) => x + y, 0);
      expect((await total(a, 'acct-backlog', 'raw'))[0]).toBe(BigInt(sum));
    });

    it('a query planned before a compaction commit still reads the replaced segments during the grace period', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix);
      const b = await openInstance(store, prefix, { seed: 5 });
      const events = generate(9, 300, 3);
      for (let i = 0; i < events.length; i += 30) await postBatch(a.app, events.slice(i, i + 30));
      const account = events[0]!.account_id;
      const s = spec(account, 'raw');
      const oldSnap = await a.db.shardOf(account).revalidate();
      const plan = a.engine.plan(oldSnap.manifest, s);
      await runJob(b.db, 'compact'); // default grace: replaced inputs stay
      await runJob(b.db, 'gc'); // default safety age: nothing young is deleted
      const { Aggregator } = await import('../../src/query/aggregate.ts');
      const agg = new Aggregator(s);
      const fresh = await openInstance(store, prefix, { seed: 6 }); // cold cache: must fetch the old objects
      await fresh.engine.run([plan], s, agg);
      expect(BigInt(agg.lines()[0]!.quantity as string)).toBe(reference(events, { account, from: FROM, to: TO }).get('[]')![0]);
    });

    it('compaction reaches a fixpoint: with nothing new, another run commits nothing; small partitions merge with new data', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix);
      const events = generate(12, 400, 4);
      for (let i = 0; i < events.length; i += 40) await postBatch(a.app, events.slice(i, i + 40));
      const committed = async () => (await runJob(a.db, 'compact')).results.filter((r) => r.committed === true).length;
      expect(await committed()).toBeGreaterThan(0);
      expect(await committed()).toBe(0);
      expect(await committed()).toBe(0);
      // A new event in an existing partition merges with that partition's small segment.
      const e = events[0]!;
      await postBatch(a.app, [{ ...e, event_id: 'newcomer', timestamp_ms: e.timestamp_ms + 1 }]);
      const shard = a.db.shardOf(e.account_id);
      const before = (await shard.revalidate()).manifest.segments.length;
      expect(await committed()).toBe(1);
      expect((await shard.revalidate()).manifest.segments.length).toBe(before - 1);
      expect(await committed()).toBe(0);
      expect(await total(a, undefined, 'raw')).toEqual(reference([...events, { ...e, event_id: 'newcomer' }], { from: FROM, to: TO }).get('[]'));
    });

    it('compaction sizes outputs by rows and bytes: one day of a small tenant over 64 buckets is one segment, read exactly per account', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix, { shards: 1, buckets: 64 });
      const day = MONTHS[1]! + 3 * 86_400_000;
      const ev = (i: number, ts: number): RefEvent => ({
        event_id: `tiny-${i}`,
        kind: 'Usage',
        account_id: `tiny-acct-${i % 150}`,
        product_id: 'chat',
        meter_id: 'tokens.in',
        source: 'api',
        unit: 'tokens',
        timestamp_ms: ts,
        quantity: 1 + i,
        dimensions: {},
      });
      const events = Array.from({ length: 300 }, (_, i) => ev(i, day + i * 60_000));
      for (let i = 0; i < events.length; i += 75) expect((await postBatch(a.app, events.slice(i, i + 75))).body.accepted).toBe(75);
      const shard = a.db.shards[0]!;
      const buckets = new Set(events.map((e) => bucketOf(e.account_id, 64)));
      expect(buckets.size).toBeGreaterThan(50);
      const accounts = [...new Set(events.map((e) => e.account_id))].sort();
      const sample = accounts.filter((_, i) => i % 15 === 0);
      const want = (account?: string) => reference(events, { ...(account === undefined ? {} : { account }), from: FROM, to: TO }).get('[]') ?? [0n, 0];
      const before = await Promise.all(sample.map((acc) => total(a, acc, 'auto')));
      expect(before).toEqual(sample.map((acc) => want(acc)));

      const report = await runJob(a.db, 'compact', FAST);
      expect(report.results[0]).toMatchObject({ committed: true, inputs: 4, outputs: 1, rows_out: 300 });
      const [seg] = (await shard.revalidate()).manifest.segments;
      expect((await shard.revalidate()).manifest.segments.length).toBe(1);
      expect(seg).toMatchObject({ compacted: true, rows: 300 });
      expect([...seg!.buckets].sort((x, y) => x - y)).toEqual([...buckets].sort((x, y) => x - y));
      // Queries prune by bucket and account range: the multi-bucket segment is kept and filtered by row.
      for (const acc of sample) expect(await total(a, acc, 'auto'), acc).toEqual(want(acc));
      expect(await total(a, undefined, 'raw')).toEqual(want());

      // The next day's events: a segment of their own first, then the two small days merge into one.
      const next = Array.from({ length: 40 }, (_, i) => ev(300 + i, day + 86_400_000 + i * 60_000));
      await postBatch(a.app, next);
      const all = [...events, ...next];
      expect((await runJob(a.db, 'compact', FAST)).results[0]).toMatchObject({ committed: true, outputs: 1 });
      expect((await shard.revalidate()).manifest.segments.length).toBe(2);
      expect((await runJob(a.db, 'compact', FAST)).results[0]).toMatchObject({ committed: true, inputs: 2, outputs: 1 });
      expect((await shard.revalidate()).manifest.segments.length).toBe(1);
      expect((await runJob(a.db, 'compact', FAST)).results[0]).toMatchObject({ committed: false });
      // A new event of a day already compacted merges with that day's small segment in one run.
      const late = ev(999, day + 5);
      await postBatch(a.app, [late]);
      all.push(late);
      expect((await runJob(a.db, 'compact', FAST)).results[0]).toMatchObject({ committed: true, inputs: 2, outputs: 1 });
      expect((await shard.revalidate()).manifest.segments.length).toBe(1);
      expect(await total(a, undefined, 'raw')).toEqual(reference(all, { from: FROM, to: TO }).get('[]'));

      // Rollup and GC over the packed segment keep every total.
      await runJob(a.db, 'rollup', FAST);
      await runJob(a.db, 'gc', FAST);
      for (const acc of sample) {
        expect(await total(a, acc, 'auto'), acc).toEqual(reference(all, { account: acc, from: FROM, to: TO }).get('[]'));
        expect(await total(a, acc, 'rollup'), acc).toEqual(reference(all, { account: acc, from: FROM, to: TO }).get('[]'));
      }
      await expectStoreConsistent(a);
    }, 120_000);

    it("with rollup between compactions (the default cadence), a small tenant's day still merges into one segment before it is rolled", async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix, { shards: 1, buckets: 64 });
      const day = MONTHS[2]! + 9 * 86_400_000;
      const ev = (i: number): RefEvent => ({
        event_id: `cad-${i}`,
        kind: 'Usage',
        account_id: `cad-acct-${i % 40}`,
        product_id: 'chat',
        meter_id: 'tokens.out',
        source: 'api',
        unit: 'tokens',
        timestamp_ms: day + i * 97_000,
        quantity: 10 + i,
        dimensions: {},
      });
      const shard = a.db.shards[0]!;
      const all: RefEvent[] = [];
      // Live traffic: new events of the day are there whenever rollup runs (every minute by default).
      for (let round = 0; round < 6; round++) {
        const batch = Array.from({ length: 30 }, (_, j) => ev(round * 30 + j));
        await postBatch(a.app, batch);
        all.push(...batch);
        await runJob(a.db, 'rollup', ALWAYS_ROLL);
        await runJob(a.db, 'compact', FAST);
        const segs = (await shard.revalidate()).manifest.segments;
        // Held back from rollup while compaction would merge it: one segment, never one per round.
        expect(segs.length, `round ${round}`).toBe(1);
        expect(segs[0]!.rolled_by).toBeUndefined();
        expect(await total(a, undefined, 'auto')).toEqual(reference(all, { from: FROM, to: TO }).get('[]'));
      }
      // Nothing left for compaction to merge: the next rollup rolls it, and rollup totals match.
      // (A rollup written whatever it saves: one event per account and hour does not aggregate.)
      expect((await runJob(a.db, 'compact', FAST)).results[0]).toMatchObject({ committed: false });
      await runJob(a.db, 'rollup', ALWAYS_ROLL);
      const [seg] = (await shard.revalidate()).manifest.segments;
      expect(seg?.rolled_by).toBeDefined();
      expect(await total(a, undefined, 'rollup')).toEqual(reference(all, { from: FROM, to: TO }).get('[]'));
      expect(await total(a, 'cad-acct-7', 'auto')).toEqual(reference(all, { account: 'cad-acct-7', from: FROM, to: TO }).get('[]'));
    }, 120_000);

    it('a large partition splits into even segments within the row target; pieces are not merged back', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix, { shards: 1, buckets: 64 });
      const day = MONTHS[1]! + 86_400_000;
      const events: RefEvent[] = Array.from({ length: 2500 }, (_, i) => ({
        event_id: `big-${i}`,
        kind: 'Usage',
        account_id: i % 10 === 0 ? 'small-one' : 'big-one',
        product_id: 'chat',
        meter_id: 'tokens.in',
        source: 'api',
        unit: 'tokens',
        timestamp_ms: day + i * 1000,
        quantity: 1 + (i % 97),
        dimensions: {},
      }));
      for (let i = 0; i < events.length; i += 500) await postBatch(a.app, events.slice(i, i + 500));
      const opts: JobOptions = { ...FAST, compact: { graceMs: 0, targetRows: 1000 } };
      expect((await runJob(a.db, 'compact', opts)).results[0]).toMatchObject({ committed: true, rows_out: 2500 });
      const segs = (await a.db.shards[0]!.revalidate()).manifest.segments;
      const big = bucketOf('big-one', 64);
      expect(bucketOf('small-one', 64)).not.toBe(big);
      // big-one's 2,250 rows: two even pieces (a third would fall under the 1,000-row floor);
      // small-one's 250 rows, another bucket, are packed into a segment apart from them.
      const bigSegs = segs.filter((s) => s.buckets.length === 1 && s.buckets[0] === big);
      expect(bigSegs.map((s) => s.rows).sort()).toEqual([1125, 1125]);
      expect(segs.reduce((n, s) => n + s.rows, 0)).toBe(2500);
      expect(segs.length).toBe(3);
      expect((await runJob(a.db, 'compact', opts)).results[0]).toMatchObject({ committed: false });
      for (const acc of ['big-one', 'small-one'])
        expect(await total(a, acc, 'auto')).toEqual(reference(events, { account: acc, from: FROM, to: TO }).get('[]'));
    }, 120_000);

    it('GC dry run lists an orphaned segment of a failed ingest, GC deletes it, and never a referenced object', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix);
      await postBatch(a.app, generate(10, 50, 2));
      const shard = a.db.shards[0]!;
      const orphan = shard.keys.rawSegment('01ORPHAN0000000000000000000');
      await store.put(orphan, new TextEncoder().encode('left by a failed ingest'));
      const dry = await runJob(a.db, 'gc', { dryRun: true, gc: { safetyAgeMs: 0 } });
      expect(dry.results[0]!.keys).toContain(orphan);
      expect(await store.head(orphan)).not.toBeNull();
      const young = await runJob(a.db, 'gc'); // default safety age: too young to delete
      expect(young.results[0]!.keys).not.toContain(orphan);
      await runJob(a.db, 'gc', { gc: { safetyAgeMs: 0 } });
      expect(await store.head(orphan)).toBeNull();
      await expectStoreConsistent(a);
    });

    // Lean hashes (issue 15 item 4): a 60 s dedupe window; data is "past" it once the clock moved
    // the window plus the slack (strip-hashes.ts) on.
    const WINDOW = 60_000;
    const PAST = WINDOW + LEAN_SLACK_MS + 60_000;
    const LEAN: JobOptions = { ...FAST, compact: { graceMs: 0, dedupeWindowMs: WINDOW } };
    const leanTs = Date.UTC(2026, 8, 3, 9);
    const leanEvents = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => plainEvent(`lean-${from + i}`, i % 2 === 0 ? 'acme' : 'other', leanTs + (i % 3) * 86_400_000 + i, 1 + (i % 5)));
    const sumOf = (events: { quantity: number }[]) => BigInt(events.reduce((n, e) => n + e.quantity, 0));
    /** Sizes of the objects of `segments`, by id. */
    const sizes = async (store: ObjectStore, segments: readonly { id: string; key: string }[]) =>
      new Map(await Promise.all(segments.map(async (x) => [x.id, (await store.head(x.key))?.size ?? -1] as const)));
    /** One shard holding compacted, rolled-up segments with hashes, then the clock moved past the window. */
    const compactedThenPast = async (store: ObjectStore, prefix: string) => {
      const a = await openInstance(store, prefix, { shards: 1, buckets: 4, ingest: { dedupeWindowMs: WINDOW } });
      const events = leanEvents(0, 60);
      for (let i = 0; i < events.length; i += 20) await postBatch(a.app, events.slice(i, i + 20));
      await runJob(a.db, 'compact', LEAN);
      await runJob(a.db, 'rollup', LEAN);
      const before = (await a.db.shards[0]!.revalidate()).manifest.segments;
      expect(before.every((x) => x.compacted === true && x.rolled_by !== undefined && x.hashes === undefined && x.filter_bytes !== undefined)).toBe(true);
      a.clock.advance(PAST);
      return { a, events, before };
    };

    it('lean hashes: compaction of rows past the dedupe window writes no hashes block or key filter; totals unchanged', async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix, { shards: 1, buckets: 4, ingest: { dedupeWindowMs: WINDOW } });
      const events = leanEvents(0, 40);
      await postBatch(a.app, events);
      a.clock.advance(PAST);
      const report = await runJob(a.db, 'compact', LEAN);
      expect(report.results[0]).toMatchObject({ committed: true, strip: { stripped: 0 } });
      const segs = (await a.db.shards[0]!.revalidate()).manifest.segments;
      expect(segs.length).toBeGreaterThan(0);
      for (const x of segs) {
        expect(x).toMatchObject({ compacted: true, hashes: 'none' });
        expect(x.filter_bytes).toBeUndefined();
        expect((await store.head(x.key))?.size).toBe(x.bytes);
      }
      await runJob(a.db, 'rollup', LEAN);
      for (const source of ['raw', 'auto', 'rollup'] as const) expect(await total(a, undefined, source)).toEqual([sumOf(events), 40]);
      await expectStoreConsistent(a);
    });

    it('lean hashes: the compact job strips compacted segments past the window — same rows and totals, smaller objects, old objects kept for the grace, then collected', async () => {
      const { store, prefix } = await make();
      const { a, events, before } = await compactedThenPast(store, prefix);
      const want = [sumOf(events), 60];
      const oldSizes = await sizes(store, before);
      const oldPlan = a.engine.plan((await a.db.shards[0]!.revalidate()).manifest, spec('acme', 'raw'));
      const report = await runJob(a.db, 'compact', { ...LEAN, compact: { graceMs: 30 * 60_000, dedupeWindowMs: WINDOW } });
      expect(report.results[0]).toMatchObject({ strip: { committed: true, stripped: before.length, remaining: 0 } });
      const after = (await a.db.shards[0]!.revalidate()).manifest.segments;
      expect(after).toHaveLength(before.length);
      const newSizes = await sizes(store, after);
      for (const [i, x] of after.entries()) {
        const { id, key, filter_bytes, hashes, bytes, checksum, ...rest } = x;
        const { id: oldId, key: oldKey, filter_bytes: oldFilter, bytes: oldBytes, checksum: _c, ...was } = before[i]!;
        expect(rest).toEqual(was); // rows, stats, rolled_by, compacted, created_at_ms
        expect([hashes, filter_bytes, id === oldId, key === oldKey]).toEqual(['none', undefined, false, false]);
        expect(newSizes.get(id)).toBe(bytes);
        // The object replaced: container, key filter, hashes block version 3 (16 + 22 bytes a row + 4).
        expect(oldSizes.get(oldId)!).toBe(oldBytes + oldFilter! + 16 + 22 * x.rows + 4);
        // Rewritten in raw format v2 (never larger than the v1 container), its checksum in the trailer.
        const obj = await store.get(key);
        if (obj === null || obj.notModified) throw new Error(`missing ${key}`);
        expect(obj.body[4]).toBe(2);
        expect(bytes).toBeLessThanOrEqual(oldBytes);
        expect(
          new DataView(obj.body.buffer, obj.body.byteOffset)
            .getUint32(bytes - 8, true)
            .toString(16)
            .padStart(8, '0'),
        ).toBe(checksum);
      }
      for (const source of ['raw', 'auto', 'rollup'] as const) expect(await total(a, undefined, source)).toEqual(want);
      expect((await verify(a.engine, 'acme', FROM, TO)).matches).toBe(true);
      await expectStoreConsistent(a);
      // A second run has nothing left to strip.
      expect((await runJob(a.db, 'compact', LEAN)).results[0]).toMatchObject({ strip: { committed: false, stripped: 0 } });
      // During the grace a query planned before the strip still reads the old objects.
      await runJob(a.db, 'gc', { gc: { safetyAgeMs: 0, historyKeep: 1 } });
      for (const x of before) expect(await store.head(x.key), x.key).not.toBeNull();
      const { Aggregator } = await import('../../src/query/aggregate.ts');
      const agg = new Aggregator(spec('acme', 'raw'));
      const fresh = await openInstance(store, prefix, { shards: 1, buckets: 4, seed: 6 });
      await fresh.engine.run([oldPlan], spec('acme', 'raw'), agg);
      expect(BigInt(agg.lines()[0]!.quantity as string)).toBe(sumOf(events.filter((e) => e.account_id === 'acme')));
      // After it, GC deletes them; the lean ones stay.
      a.clock.advance(31 * 60_000);
      await runJob(a.db, 'gc', { gc: { safetyAgeMs: 0, historyKeep: 1 } });
      for (const x of before) expect(await store.head(x.key), x.key).toBeNull();
      for (const x of after) expect(await store.head(x.key), x.key).not.toBeNull();
      for (const source of ['raw', 'auto', 'rollup'] as const) expect(await total(a, undefined, source)).toEqual(want);
    });

    it("lean hashes: a late retry into a stripped segment's day is still removed by compaction's cold dedupe, a conflicting one quarantined; id reuse in stripped segments is found", async () => {
      const { store, prefix } = await make();
      const a = await openInstance(store, prefix, { shards: 1, buckets: 4, ingest: { dedupeWindowMs: WINDOW } });
      const ev = (id: string, account: string, q: number) => plainEvent(id, account, leanTs, q);
      await postBatch(a.app, [ev('dup', 'acme', 7), ev('clash', 'acme', 1), ev('shared', 'acme', 3), ev('shared', 'other', 4), ...leanEvents(0, 20)]);
      await runJob(a.db, 'compact', LEAN);
      // Rolled up: compaction never rewrites them again, so the retries meet them as its reference.
      await runJob(a.db, 'rollup', LEAN);
      a.clock.advance(PAST);
      await runJob(a.db, 'compact', LEAN);
      const stripped = (await a.db.shards[0]!.revalidate()).manifest.segments;
      expect(stripped.every((x) => x.hashes === 'none')).toBe(true);
      const again = await postBatch(a.app, [ev('dup', 'acme', 7), ev('clash', 'acme', 2)]);
      expect(again.body.accepted).toBe(2);
      const report = await runJob(a.db, 'compact', LEAN);
      expect(report.results[0]).toMatchObject({ committed: true, duplicates_removed: 1, quarantined: 1 });
      const conflicts = (await (await a.app.request('/v1/admin/conflicts')).json()) as { conflicts: Record<string, unknown>[] };
      expect(conflicts.conflicts).toEqual([expect.objectContaining({ event_id: 'clash', account_id: 'acme', kind: 'payload', status: 'quarantined' })]);
      const kept = (conflicts.conflicts[0]!.kept as { segment: string }).segment;
      expect(stripped.map((x) => x.id)).toContain(kept);
      expect(await total(a, 'acme', 'raw')).toEqual([8n + 3n + sumOf(leanEvents(0, 20).filter((e) => e.account_id === 'acme')), 13]);
      // The id-reuse check over a window that reaches the stripped segments reads their hashes from the columns.
      const gc = await runJob(a.db, 'gc', { ...FAST, idReuse: { windowMs: 10 * 86_400_000 } });
      expect((gc.results[gc.results.length - 1] as { id_reuse: { reuses_found: number } }).id_reuse.reuses_found).toBe(2);
    });

    it('lean hashes: two compact jobs at once strip each segment once; a cold ingest instance neither fails on nor reads stripped segments', async () => {
      const { store, prefix } = await make();
      const { a, events, before } = await compactedThenPast(store, prefix);
      const b = await openInstance(store, prefix, { shards: 1, buckets: 4, seed: 3, clock: a.clock });
      const runs = await Promise.all([runJob(a.db, 'compact', LEAN), runJob(b.db, 'compact', LEAN)]);
      const strips = runs.map((r) => r.results[0]!.strip as { committed: boolean; stripped: number });
      expect(strips.filter((x) => x.committed)).toHaveLength(1);
      expect(strips.reduce((n, x) => n + x.stripped, 0)).toBe(before.length);
      const lean = (await a.db.shards[0]!.revalidate()).manifest.segments;
      expect(lean.every((x) => x.hashes === 'none')).toBe(true);
      for (const source of ['raw', 'auto', 'rollup'] as const) expect(await total(a, undefined, source)).toEqual([sumOf(events), 60]);
      await expectStoreConsistent(a);
      // A cold instance: new events and a retry of a stripped (past-window) event are accepted; no read of a lean object.
      const plan = new FaultPlan();
      const cold = await openInstance(withFaults(store, plan.injector), prefix, {
        shards: 1,
        buckets: 4,
        seed: 9,
        clock: a.clock,
        ingest: { dedupeWindowMs: WINDOW },
      });
      const res = await postBatch(cold.app, [...leanEvents(100, 10), events[0]!]);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ accepted: 11, duplicates: 0, conflicts: 0 });
      const leanKeys = new Set(lean.map((x) => x.key));
      expect(plan.calls.filter((c) => c.op === 'get' && leanKeys.has(c.key))).toEqual([]);
      // And its compaction removes that retry against the stripped copy.
      const compacted = await runJob(cold.db, 'compact', LEAN);
      expect(compacted.results[0]).toMatchObject({ duplicates_removed: 1 });
      expect(await total(cold, undefined, 'raw')).toEqual([sumOf([...events, ...leanEvents(100, 10)]), 70]);
    });

    /** A counted store and an instance over it; jobs whose outputs of more than 4 rows are written in row groups. */
    const groupedSetup = async () => {
      const { store, prefix } = await make();
      const counting = new CountingStore(store);
      const GROUPED: JobOptions = { ...FAST, compact: { graceMs: 0, dedupeWindowMs: WINDOW, groupRows: 4 } };
      const a = await openInstance(counting, prefix, { shards: 1, buckets: 4, ingest: { dedupeWindowMs: WINDOW } });
      return { store, prefix, counting, GROUPED, a, accounts: ['a1', 'a2', 'a3', 'a4', 'heavy'] };
    };

    it('raw row groups: the strip step and compaction write lean segments of many rows as row groups — totals exact before and after, check finds nothing, one-account reads fetch only the directory and its groups, format 6', async () => {
      const { store, prefix, counting, GROUPED, a, accounts } = await groupedSetup();
      // 'heavy' has half the rows (spans many groups); the others a few each, over three days.
      const batch = (tag: string, n: number, day: number) =>
        Array.from({ length: n }, (_, i) =>
          plainEvent(`${tag}-${i}`, i % 2 === 0 ? 'heavy' : accounts[(i >> 1) % 4]!, leanTs + ((day + i) % 3) * 86_400_000 + i * 1000, 1 + (i % 7)),
        );
      const accepted: ReturnType<typeof plainEvent>[] = [];
      const expectTotals = async (inst: Instance, label: string, sources: readonly QuerySpec['source'][]) => {
        for (const account of accounts) {
          const mine = accepted.filter((e) => e.account_id === account);
          for (const source of sources) expect(await total(inst, account, source), `${label} ${source} ${account}`).toEqual([sumOf(mine), mine.length]);
          const v = await verify(inst.engine, account, FROM, TO);
          expect(v.matches, `${label} verify ${account}`).toBe(true);
        }
        for (const source of sources) expect(await total(inst, undefined, source), `${label} ${source}`).toEqual([sumOf(accepted), accepted.length]);
      };
      // 1. Compacted with hashes (within the window), rolled up; then past the window: the strip step rewrites them grouped.
      const first = batch('s', 40, 0);
      await postBatch(a.app, first);
      accepted.push(...first);
      await runJob(a.db, 'compact', GROUPED);
      await runJob(a.db, 'rollup', GROUPED);
      await expectTotals(a, 'before strip', ['raw', 'auto', 'rollup']);
      a.clock.advance(PAST);
      const stripped = await runJob(a.db, 'compact', GROUPED);
      expect(stripped.results[0]).toMatchObject({ strip: { committed: true } });
      let segs = (await a.db.shards[0]!.revalidate()).manifest.segments;
      expect(segs.length).toBeGreaterThan(0);
      for (const x of segs) expect([x.hashes, x.rows > 4 ? x.directory_bytes! > 0 : true], x.id).toEqual(['none', true]);
      await expectTotals(a, 'after strip', ['raw', 'auto', 'rollup']);
      // 2. New rows past the window: compaction writes grouped lean outputs directly; 3. more rows
      // of the same days, with a retry, merge with them (grouped inputs), then rollup.
      const second = batch('c', 40, 1);
      await postBatch(a.app, second);
      accepted.push(...second);
      a.clock.advance(PAST);
      expect((await runJob(a.db, 'compact', GROUPED)).results[0]).toMatchObject({ committed: true });
      const direct = (await a.db.shards[0]!.revalidate()).manifest.segments.filter((x) => x.rolled_by === undefined);
      expect(direct.length).toBeGreaterThan(0);
      for (const x of direct) expect([x.hashes, x.directory_bytes! > 0], x.id).toEqual(['none', true]);
      await expectTotals(a, 'lean outputs', ['raw', 'auto']);
      const third = batch('d', 12, 2);
      await postBatch(a.app, [...third, second[3]!]);
      accepted.push(...third);
      a.clock.advance(PAST);
      expect((await runJob(a.db, 'compact', GROUPED)).results[0]).toMatchObject({ committed: true, duplicates_removed: 1 });
      await runJob(a.db, 'rollup', GROUPED);
      await runJob(a.db, 'gc', { gc: { safetyAgeMs: 0, historyKeep: 1 } });
      segs = (await a.db.shards[0]!.revalidate()).manifest.segments;
      expect(segs.filter((x) => x.directory_bytes !== undefined).length).toBeGreaterThan(1);
      await expectTotals(a, 'merged', ['raw', 'auto', 'rollup']);
      await expectStoreConsistent(a);
      // check (deep) finds nothing.
      for (const x of segs) {
        expect(await checkRawSegment(store, 0, x), x.id).toEqual([]);
        expect(await checkHashes(store, 0, x), x.id).toEqual([]);
      }
      // Format 6 while a grouped raw entry is listed; a build reading formats up to 5 refuses it by name.
      const m = (await a.db.shards[0]!.revalidate()).manifest;
      expect(needsRawGroupsFormat(m)).toBe(true);
      const current = await store.get(a.db.shards[0]!.keys.current);
      if (current === null || current.notModified) throw new Error('no current.json');
      const raw = JSON.parse(new TextDecoder().decode(current.body));
      expect(raw.format).toBe(STORED_MANIFEST_FORMAT_RAW_GROUPS);
      expect(STORED_MANIFEST_FORMAT_MAX).toBe(STORED_MANIFEST_FORMAT_RAW_GROUPS);
      expect(() => decodeStored(new TextEncoder().encode(JSON.stringify({ ...raw, format: STORED_MANIFEST_FORMAT_MAX + 1 })), 'current.json')).toThrow(
        UnsupportedFormatError,
      );
      // A cold instance: a light account's raw total reads each grouped segment's directory and groups by range only.
      const b = await openInstance(counting, prefix, { shards: 1, buckets: 4, seed: 5, clock: a.clock });
      await expectGroupsReadByRange(b, counting, 'a1', accepted, segs);
    }, 180_000);

    it('raw row groups inside the dedupe window: compaction writes outputs of many rows as groups with the hashes after them — a cold one-account query reads directory and groups by range, ingest dedupe (also a fresh instance) finds a retry and a conflict, the strip step copies them into lean grouped segments, totals exact, check finds nothing', async () => {
      const { store, prefix, counting, GROUPED, a, accounts } = await groupedSetup();
      const events = Array.from({ length: 40 }, (_, i) =>
        plainEvent(`w-${i}`, i % 2 === 0 ? 'heavy' : accounts[(i >> 1) % 4]!, leanTs + (i % 3) * 86_400_000 + i * 1000, 1 + (i % 7)),
      );
      const expectTotals = async (inst: Instance, label: string, sources: readonly QuerySpec['source'][]) => {
        for (const account of accounts) {
          const mine = events.filter((e) => e.account_id === account);
          for (const source of sources) expect(await total(inst, account, source), `${label} ${source} ${account}`).toEqual([sumOf(mine), mine.length]);
          expect((await verify(inst.engine, account, FROM, TO)).matches, `${label} verify ${account}`).toBe(true);
        }
        for (const source of sources) expect(await total(inst, undefined, source), `${label} ${source}`).toEqual([sumOf(events), events.length]);
      };
      const expectChecked = async (segs: readonly DeepReadonly<RawSegmentEntry>[]) => {
        for (const x of segs) {
          expect(await checkRawSegment(store, 0, x), x.id).toEqual([]);
          expect(await checkHashes(store, 0, x), x.id).toEqual([]);
        }
      };
      await postBatch(a.app, events);
      expect((await runJob(a.db, 'compact', GROUPED)).results[0]).toMatchObject({ committed: true });
      const segs = (await a.db.shards[0]!.revalidate()).manifest.segments;
      // Inside the window: hashes block and key filter kept; more than 4 rows: in row groups.
      for (const x of segs) expect([x.hashes, x.filter_bytes! > 0, x.rows > 4 === (x.directory_bytes !== undefined)], x.id).toEqual([undefined, true, true]);
      expect(segs.filter((x) => x.directory_bytes !== undefined).length).toBeGreaterThan(0);
      expect(needsRawGroupsFormat((await a.db.shards[0]!.revalidate()).manifest)).toBe(true);
      await expectTotals(a, 'compacted', ['raw', 'auto']);
      await expectChecked(segs);

      // A cold instance: a light account's raw total reads each grouped segment's directory and groups by range only.
      const b = await openInstance(counting, prefix, { shards: 1, buckets: 4, seed: 5, clock: a.clock, ingest: { dedupeWindowMs: WINDOW } });
      const entryOf = new Map(segs.map((x) => [x.key, x]));
      const reads = await expectGroupsReadByRange(b, counting, 'a1', events, segs);
      for (const key of new Set(reads.map((g) => g.key))) {
        const fetched = reads.filter((g) => g.key === key).reduce((n, g) => n + g.bytes, 0);
        expect(fetched, key).toBeLessThan(entryOf.get(key)!.bytes);
      }

      // Ingest's dedupe reads the hashes block and key filter after the groups: a retry is a
      // duplicate, a changed payload a conflict — on the instance that wrote them and on a fresh one.
      const heavyEvent = events[0]!;
      const lightEvent = events.find((e) => e.account_id === 'a2')!;
      for (const [label, inst] of [
        ['fresh', await openInstance(store, prefix, { shards: 1, buckets: 4, seed: 11, clock: a.clock, ingest: { dedupeWindowMs: WINDOW } })],
        ['writer', a],
      ] as const) {
        const retry = await postBatch(inst.app, [heavyEvent, lightEvent]);
        expect(retry.body, label).toMatchObject({ accepted: 0, duplicates: 2, conflicts: 0 });
        const changed = await postBatch(inst.app, [{ ...lightEvent, quantity: lightEvent.quantity + 100 }]);
        expect(changed.body, label).toMatchObject({ accepted: 0, duplicates: 0, conflicts: 1 });
      }
      await runJob(a.db, 'rollup', GROUPED);
      await expectTotals(a, 'rolled up', ['raw', 'auto', 'rollup']);

      // Past the window: the strip step copies each grouped input's [0, bytes) — already the lean
      // grouped object — so bytes, checksum and directory stay; the hashes and key filter are gone.
      a.clock.advance(PAST);
      expect((await runJob(a.db, 'compact', GROUPED)).results[0]).toMatchObject({ strip: { committed: true, stripped: segs.length } });
      const lean = (await a.db.shards[0]!.revalidate()).manifest.segments;
      expect(lean).toHaveLength(segs.length);
      for (const x of lean) expect([x.hashes, x.filter_bytes], x.id).toEqual(['none', undefined]);
      for (const before of segs.filter((x) => x.directory_bytes !== undefined)) {
        const after = lean.find((x) => x.min_account === before.min_account && x.min_ts === before.min_ts && x.rows === before.rows)!;
        expect([after.bytes, after.checksum, after.directory_bytes], before.id).toEqual([before.bytes, before.checksum, before.directory_bytes]);
        const [old, copy] = await Promise.all([store.get(before.key, { range: { offset: 0, length: before.bytes } }), store.get(after.key)]);
        if (old === null || old.notModified || copy === null || copy.notModified) throw new Error('missing object');
        expect(Buffer.from(copy.body).equals(Buffer.from(old.body)), before.id).toBe(true);
      }
      await expectTotals(a, 'stripped', ['raw', 'auto', 'rollup']);
      await expectChecked(lean);
      const c = await openInstance(counting, prefix, { shards: 1, buckets: 4, seed: 6, clock: a.clock });
      await expectGroupsReadByRange(c, counting, 'a1', events, lean);
      await runJob(a.db, 'gc', { gc: { safetyAgeMs: 0, historyKeep: 1 } });
      await expectStoreConsistent(a);
    }, 180_000);
  });
}
