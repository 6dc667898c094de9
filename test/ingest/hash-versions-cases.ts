/**
 * Hashes block version 3 (22-byte rows: 80-bit key, 32-bit payload) next to segments written by
 * earlier releases (version 2 blocks, 28-byte rows, and compacted ones with a version 1 key filter
 * after the hashes): a cold instance holding a mix of both, in both tiers (exact: ingest
 * segments; filtered: compacted ones), answers every retry exactly — duplicate when the payload
 * is the same, conflict when it changed — and compaction's cold dedupe agrees. Run on the memory
 * store and on MinIO (hash-versions.minio.test.ts, which also asks a fresh server process).
 */
import { describe, expect, it } from 'vitest';
import { runJob, type JobOptions } from '../../src/jobs/run.ts';
import type { Database } from '../../src/manifest/database.ts';
import type { DeepReadonly, RawSegmentEntry } from '../../src/manifest/schema.ts';
import { DAY_MS } from '../../src/model/time.ts';
import { readRawEvents } from '../../src/objects/segment-objects.ts';
import type { ObjectStore } from '../../src/store/types.ts';
import { rewriteAsV2 } from '../support/hashes-v2.ts';
import { openInstance, postBatch, storedEvents, TestClock, usage, type Instance } from '../support/instance.ts';

const FAST: JobOptions = { compact: { graceMs: 0 }, gc: { safetyAgeMs: 0 }, rollup: { maxRollups: 3, graceMs: 0 } };
export const WINDOW = { dedupeWindowMs: 35 * DAY_MS };
const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);
/** Event i of the test (accounts spread over every shard). */
export const ev = (i: number, over: Record<string, unknown> = {}) => usage(i, { account_id: `acct-${i % 41}`, ...over });

/** Which kind of segment holds an event: hashes version and tier. */
export type Kind = 'v2 filtered' | 'v3 filtered' | 'v2 exact' | 'v3 exact';

export interface Mixed {
  readonly store: ObjectStore;
  readonly prefix: string;
  readonly clock: TestClock;
  readonly writer: Instance;
  /** Event number → the kind of segment it is stored in. */
  readonly kinds: Map<number, Kind>;
  /** Every event number stored. */
  readonly all: number[];
}

async function listed(db: Database): Promise<DeepReadonly<RawSegmentEntry>[]> {
  return (await Promise.all(db.shards.map((s) => s.revalidate()))).flatMap((m) => m.manifest.segments);
}

/** The first bytes after a segment's container: the hashes block's or the filter's magic and version. */
async function tailOf(store: ObjectStore, seg: DeepReadonly<RawSegmentEntry>): Promise<string> {
  const res = await store.get(seg.key, { range: { offset: seg.bytes, length: 5 } });
  if (res === null || res.notModified) throw new Error(`missing ${seg.key}`);
  return `${String.fromCharCode(...res.body.subarray(0, 4))}${res.body[4]}`;
}

/**
 * A database holding all four kinds: 600 events compacted (half of the compacted segments then
 * rewritten as an earlier release wrote them: hashes v2 + filter v1), 200 in ingest segments
 * rewritten as version 2, 200 in ingest segments of version 3.
 */
export async function mixedDatabase(store: ObjectStore, prefix: string): Promise<Mixed> {
  const clock = new TestClock();
  const writer = await openInstance(store, prefix, { clock, ingest: WINDOW, shards: 4, buckets: 16 });
  expect(
    (
      await postBatch(
        writer.app,
        range(600).map((i) => ev(i)),
      )
    ).body.accepted,
  ).toBe(600);
  for (let i = 0; i < 3; i++) await runJob(writer.db, 'compact', FAST);
  const kinds = new Map<number, Kind>();
  const compacted = await listed(writer.db);
  expect(compacted.length).toBeGreaterThanOrEqual(2);
  expect(compacted.every((s) => s.compacted === true && s.filter_bytes !== undefined)).toBe(true);
  for (const [n, seg] of compacted.entries()) {
    const old = n % 2 === 0;
    if (old) {
      const rewritten = await rewriteAsV2(store, seg);
      // Same filter length (same distinct keys and rows): the manifest entry stays as it is.
      expect(rewritten.filter_bytes).toBe(seg.filter_bytes);
      expect(await tailOf(store, seg)).toBe('UHSH2');
    } else {
      // Written now: the version 2 filter right after the container, the version 3 hashes after it.
      expect(await tailOf(store, seg)).toBe('UFLT2');
    }
    for (const e of await readRawEvents(store, seg)) kinds.set(Number(e.event_id.slice(4)), old ? 'v2 filtered' : 'v3 filtered');
  }
  const before = new Set(compacted.map((s) => s.id));
  /** Ingests events `from`..`to` (200 of them new) and answers the segments that commit added, each a v3 hashes block. */
  const ingestNew = async (from: number, to: number) => {
    expect(
      (
        await postBatch(
          writer.app,
          range(from, to).map((i) => ev(i)),
        )
      ).body.accepted,
    ).toBe(200);
    const added = (await listed(writer.db)).filter((s) => !before.has(s.id));
    expect(added.length).toBeGreaterThan(0);
    for (const seg of added) {
      expect(await tailOf(store, seg)).toBe('UHSH3');
      before.add(seg.id);
    }
    return added;
  };
  for (const seg of await ingestNew(200, 600)) {
    await rewriteAsV2(store, seg);
    expect(await tailOf(store, seg)).toBe('UHSH2');
    for (const e of await readRawEvents(store, seg)) kinds.set(Number(e.event_id.slice(4)), 'v2 exact');
  }
  for (const seg of await ingestNew(200, 800)) {
    for (const e of await readRawEvents(store, seg)) kinds.set(Number(e.event_id.slice(4)), 'v3 exact');
  }
  const all = range(1000);
  expect(all.every((i) => kinds.has(i))).toBe(true);
  for (const k of ['v2 filtered', 'v3 filtered', 'v2 exact', 'v3 exact'] as const)
    expect([...kinds.values()].filter((x) => x === k).length).toBeGreaterThan(50);
  return { store, prefix, clock, writer, kinds, all };
}

/** Of each kind, `n` event numbers (the retries whose payload a test changes). */
export function sampleOfEachKind(m: Mixed, n: number): number[] {
  const out: number[] = [];
  for (const k of ['v2 filtered', 'v3 filtered', 'v2 exact', 'v3 exact'] as const) out.push(...m.all.filter((i) => m.kinds.get(i) === k).slice(0, n));
  return out;
}

export function describeHashVersions(name: string, makeStore: () => Promise<{ store: ObjectStore; prefix: string }>): void {
  describe(`hashes block versions 2 and 3 together (${name})`, () => {
    it('a cold instance answers retries into v2 and v3 segments, exact and filtered, exactly: duplicate, or conflict when the payload changed', async () => {
      const { store, prefix } = await makeStore();
      const m = await mixedDatabase(store, prefix);
      m.clock.advance(DAY_MS);
      const cold = await openInstance(store, prefix, { clock: m.clock, ingest: WINDOW, seed: 7 });
      const retry = await postBatch(
        cold.app,
        m.all.map((i) => ev(i)),
      );
      expect(retry.body).toMatchObject({ accepted: 0, duplicates: 1000, conflicts: 0 });
      const changed = sampleOfEachKind(m, 5);
      const mixed = await postBatch(cold.app, [...changed.map((i) => ev(i, { quantity: 7 })), ...range(10, 5000).map((i) => ev(i))]);
      expect(mixed.body).toMatchObject({ accepted: 10, duplicates: 0, conflicts: 20 });
      // Every conflict names one of the changed events (one of each kind x 5).
      expect(new Set(mixed.body.errors.map((e: { event_id: string }) => e.event_id))).toEqual(new Set(changed.map((i) => `evt-${i}`)));
      // The filtered tier answered for the compacted ones (both filter versions were read).
      const ws = cold.db.shards.map((_, s) => cold.ingestor.writer(s));
      expect(ws.reduce((n, w) => n + w.cold.stats.filterLoads, 0)).toBeGreaterThanOrEqual(2);
      const stored = await storedEvents(cold.db);
      expect(stored.length).toBe(1010);
      expect(new Set(stored.map((e) => `${e.account_id}/${e.event_id}`)).size).toBe(1010);
    });

    it("compaction's cold dedupe meets v2 and v3 rows of the same events: copies past the window removed, a changed one quarantined", async () => {
      const { store, prefix } = await makeStore();
      const m = await mixedDatabase(store, prefix);
      // Past the window, the retries are accepted again (stored twice) ...
      m.clock.advance(36 * DAY_MS);
      const late = await openInstance(store, prefix, { clock: m.clock, ingest: WINDOW, seed: 8 });
      const copies = sampleOfEachKind(m, 4);
      const changed = sampleOfEachKind(m, 1);
      const same = copies.filter((i) => !changed.includes(i));
      const res = await postBatch(late.app, [...same.map((i) => ev(i)), ...changed.map((i) => ev(i, { quantity: 9 }))]);
      expect(res.body).toMatchObject({ accepted: 16, duplicates: 0, conflicts: 0 });
      // ... and compaction finds each against its v2 or v3 original: 12 duplicates removed, 4 conflicts quarantined.
      let removed = 0;
      let quarantined = 0;
      for (let i = 0; i < 3; i++) {
        const report = await runJob(late.db, 'compact', { ...FAST, compact: { graceMs: 0, dedupeWindowMs: 1000 * DAY_MS } });
        for (const r of report.results as Record<string, unknown>[]) {
          removed += Number(r.duplicates_removed ?? 0);
          quarantined += Number(r.quarantined ?? 0);
        }
      }
      expect([removed, quarantined]).toEqual([12, 4]);
      const stored = await storedEvents(late.db);
      expect(stored.length).toBe(1000);
      expect(new Set(stored.map((e) => `${e.account_id}/${e.event_id}`)).size).toBe(1000);
    });
  });
}
