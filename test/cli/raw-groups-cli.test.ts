/**
 * The CLI on raw segments written as row groups (memory store), lean or compacted inside the
 * dedupe window (hashes block and key filter after the directory): `check --deep` finds nothing
 * wrong, and a damaged group is named; `inspect-segment` reads a live grouped segment and a
 * replaced one (no entry: the directory found by walking its groups) with every row; an export
 * reads every row (all accounts, and one account).
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/cli.ts';
import { LEAN_SLACK_MS } from '../../src/compact/strip-hashes.ts';
import { planExport, readExport } from '../../src/export/source.ts';
import { runJob, type JobOptions } from '../../src/jobs/run.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import type { ObjectStore } from '../../src/store/types.ts';
import { openInstance, postBatch } from '../support/instance.ts';
import { Capture } from './cli-support.ts';

const WINDOW = 60_000;
const PAST = WINDOW + LEAN_SLACK_MS + 60_000;
const JOBS: JobOptions = { compact: { graceMs: 30 * 60_000, dedupeWindowMs: WINDOW, groupRows: 4 }, gc: { safetyAgeMs: 0 } };
const T0 = Date.UTC(2026, 8, 3, 9);

async function run(argv: string[], store: ObjectStore) {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runCli(argv, { stdout, stderr, env: { USAGEDB_PREFIX: 'db' }, store });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** `check --deep` finds nothing, and `inspect-segment` reads the grouped segment whole: its 30 rows in groups of 4. */
async function checkAndInspect(store: ObjectStore, seg: { id: string; bytes: number }): Promise<void> {
  const ok = await run(['check', '--deep'], store);
  expect(ok.code, ok.stdout + ok.stderr).toBe(0);
  const live = await run(['inspect-segment', seg.id, '--rows', '100', '--json'], store);
  expect(live.code, live.stderr).toBe(0);
  const out = JSON.parse(live.stdout);
  expect(out.object).toMatchObject({ exists: true, bytes: seg.bytes, rows: 30 });
  expect(out.object.row_groups).toBeGreaterThanOrEqual(Math.ceil(30 / 4));
  expect(out.sample_rows).toHaveLength(30);
}

/** `inspect-segment` of a replaced grouped segment (no entry lists it): the object read whole, its 30 rows in groups. */
async function inspectReplaced(store: ObjectStore, seg: { id: string; bytes: number }): Promise<void> {
  const replaced = await run(['inspect-segment', seg.id, '--json'], store);
  expect(replaced.code, replaced.stderr).toBe(0);
  const r = JSON.parse(replaced.stdout);
  expect(r.live).toBe(false);
  expect(r.object).toMatchObject({ exists: true, bytes: seg.bytes, rows: 30 });
  expect(r.object.row_groups).toBeGreaterThan(1);
}

const events = (tag: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({
    event_id: `${tag}-${i}`,
    account_id: ['a1', 'a2', 'a3'][i % 3]!,
    product_id: 'p',
    meter_id: 'm',
    source: 'api',
    unit: 'u',
    timestamp_ms: T0 + i * 1000,
    quantity: 1 + i,
  }));

describe('CLI on grouped lean raw segments', () => {
  it('check --deep finds nothing, then names a damaged group; inspect-segment reads live and replaced grouped segments whole; export reads every row', async () => {
    const store = new MemoryStore();
    const a = await openInstance(store, 'db', { shards: 1, buckets: 2, ingest: { dedupeWindowMs: WINDOW } });
    await postBatch(a.app, events('x', 30));
    a.clock.advance(PAST);
    await runJob(a.db, 'compact', JOBS);
    const [seg] = (await a.db.shards[0]!.revalidate()).manifest.segments;
    expect(seg?.directory_bytes).toBeGreaterThan(0);
    await checkAndInspect(store, seg!);

    for (const [accountId, want] of [
      [undefined, 30],
      ['a2', 10],
    ] as const) {
      const ids: string[] = [];
      for await (const batch of readExport(store, await planExport(a.db, { accountId }))) for (const r of batch.rows) ids.push(batch.cols.event_id![r]!);
      expect(ids.sort(), String(accountId)).toEqual(
        events('x', 30)
          .filter((e) => accountId === undefined || e.account_id === accountId)
          .map((e) => e.event_id)
          .sort(),
      );
      expect(ids).toHaveLength(want);
    }

    // More rows of the same day: compaction merges the grouped segment, which is then replaced (readable during the grace).
    await postBatch(a.app, events('y', 6));
    a.clock.advance(PAST);
    expect((await runJob(a.db, 'compact', JOBS)).results[0]).toMatchObject({ committed: true });
    const m = (await a.db.shards[0]!.revalidate()).manifest;
    expect(m.segments.map((s) => s.id)).not.toContain(seg!.id);
    expect(m.segments.reduce((n, s) => n + s.rows, 0)).toBe(36);
    await inspectReplaced(store, seg!);

    // A damaged group of the live segment: check --deep names it.
    const now = m.segments[0]!;
    const body = await store.get(now.key);
    if (body === null || body.notModified) throw new Error('missing');
    const bad = body.body.slice();
    bad[40]! ^= 0x10;
    await store.put(now.key, bad);
    const deep = await run(['check', '--deep'], store);
    expect(deep.code).not.toBe(0);
    expect(deep.stdout + deep.stderr).toContain(now.id);
  });

  it('inside the dedupe window (hashes after the directory): check --deep finds nothing, inspect-segment reads live and replaced segments, export reads every row', async () => {
    const store = new MemoryStore();
    const a = await openInstance(store, 'db', { shards: 1, buckets: 2, ingest: { dedupeWindowMs: WINDOW } });
    await postBatch(a.app, events('w', 30));
    await runJob(a.db, 'compact', JOBS);
    const [seg] = (await a.db.shards[0]!.revalidate()).manifest.segments;
    expect([seg?.hashes, seg!.directory_bytes! > 0, seg!.filter_bytes! > 0]).toEqual([undefined, true, true]);
    await checkAndInspect(store, seg!);
    const ids: string[] = [];
    for await (const batch of readExport(store, await planExport(a.db, { accountId: 'a3' }))) for (const r of batch.rows) ids.push(batch.cols.event_id![r]!);
    expect(ids.sort()).toEqual(
      events('w', 30)
        .filter((e) => e.account_id === 'a3')
        .map((e) => e.event_id)
        .sort(),
    );

    // Past the window the strip step replaces it (readable during the grace): inspected without an entry.
    a.clock.advance(PAST);
    expect((await runJob(a.db, 'compact', JOBS)).results[0]).toMatchObject({ strip: { committed: true } });
    await inspectReplaced(store, seg!);
    const after = await run(['check', '--deep'], store);
    expect(after.code, after.stdout + after.stderr).toBe(0);
  });
});
