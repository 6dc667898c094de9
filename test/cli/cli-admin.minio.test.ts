/**
 * The admin CLI against a MinIO-backed database built through the real ingest path: check
 * (shallow and --deep, healthy and corrupted), inspect-segment, verify-period (match and drift),
 * jobs. rebuild-rollups and manifest restore are in cli-repair.minio.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { bucketOf } from '../../src/model/bucket.ts';
import { decodeRollupSegment, encodeRollupSegment, rollupColumnsToRows } from '../../src/segment/rollup.ts';
import { getBytes } from '../../src/store/types.ts';
import { readRawEvents } from '../../src/objects/segment-objects.ts';
import { buildDb, cli, sumOf, type Built } from './cli-support.ts';

let b: Built;
const JAN = ['--from', '2026-01-01', '--to', '2026-02-01'];

beforeAll(async () => {
  b = await buildDb('cli-admin');
  await b.inst.periods.close('acct-3', '2026-01', { name: 'test', reason: 'invoice' });
}, 120_000);

async function manifests() {
  return Promise.all(b.inst.db.shards.map(async (s) => (await s.revalidate()).manifest));
}

describe('usagedb check', () => {
  it('--json summarizes every shard, reports the probe and finds no problem (exit 0)', async () => {
    const ms = await manifests();
    const r = await cli(b.prefix, 'check', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.ok).toBe(true);
    expect(r.json.probe).toEqual({ ok: true, problems: [] });
    expect(r.json.problems).toEqual([]);
    expect(r.json.db_id).toBe(b.inst.db.info.db_id);
    expect(r.json.shards.map((s: { shard: number; generation: number }) => [s.shard, s.generation])).toEqual(ms.map((m) => [m.shard, m.generation]));
    const total = (f: (s: any) => number) => r.json.shards.reduce((n: number, s: any) => n + f(s), 0);
    expect(total((s) => s.rows)).toBe(b.events.length);
    expect(total((s) => s.segments.total)).toBe(ms.reduce((n, m) => n + m.segments.length, 0));
    expect(total((s) => s.segments.rolled)).toBe(ms.reduce((n, m) => n + m.segments.filter((x) => x.rolled_by !== undefined).length, 0));
    expect(total((s) => s.segments.rolled)).toBeGreaterThan(0);
    expect(total((s) => s.segments.unrolled)).toBeGreaterThan(0);
    expect(total((s) => s.rollups.total)).toBe(ms.reduce((n, m) => n + m.rollups.length, 0));
    expect(total((s) => s.periods.closed)).toBe(1);
    const human = await cli(b.prefix, 'check');
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('conditional-write probe: ok');
    expect(human.stdout).toContain('OK: no problems found');
  });

  it('--deep reads every object (exit 0), then names a corrupted segment (exit 1) until it is repaired', async () => {
    const ms = await manifests();
    const objects = ms.reduce((n, m) => n + 2 * m.segments.length + m.rollups.length + m.periods.length, 0);
    const healthy = await cli(b.prefix, 'check', '--deep', '--json');
    expect(healthy.code, healthy.stdout).toBe(0);
    expect(healthy.json.objects_checked).toBe(objects);

    const m = ms.find((x) => x.segments.length > 1)!;
    const seg = m.segments[0]!;
    const original = (await getBytes(b.inst.db.store, seg.key))!.body;
    const bad = original.slice();
    bad[Math.floor(seg.bytes / 2)]! ^= 0x5a; // inside the container, before the appended hashes
    await b.inst.db.store.put(seg.key, bad);
    // And damaged hashes (appended to another segment's object, past its container).
    const other = m.segments[1]!;
    const otherOriginal = (await getBytes(b.inst.db.store, other.key))!.body;
    const badHashes = otherOriginal.slice();
    badHashes[other.bytes + 20]! ^= 0x5a;
    await b.inst.db.store.put(other.key, badHashes);
    try {
      const r = await cli(b.prefix, 'check', '--deep', '--json');
      expect(r.code).toBe(1);
      expect(r.json.ok).toBe(false);
      expect(r.json.problems).toEqual([
        { shard: m.shard, kind: 'hashes', id: other.id, message: `hashes appended to ${other.key} do not decode: segment hashes: checksum mismatch` },
        { shard: m.shard, kind: 'raw', id: seg.id, message: 'does not decode: USEG: checksum mismatch' },
      ]);
      const human = await cli(b.prefix, 'check', '--deep');
      expect(human.code).toBe(1);
      expect(human.stdout).toContain(`shard ${m.shard} raw ${seg.id}: does not decode: USEG: checksum mismatch`);
      // The shallow check reads manifests only: it cannot see it.
      expect((await cli(b.prefix, 'check')).code).toBe(0);
    } finally {
      await b.inst.db.store.put(seg.key, original);
      await b.inst.db.store.put(other.key, otherOriginal);
    }
    expect((await cli(b.prefix, 'check', '--deep')).code).toBe(0);
  });
});

describe('usagedb inspect-segment', () => {
  it('prints a raw segment, a rollup and sample rows; an unknown id exits 1', async () => {
    const ms = await manifests();
    const m = ms.find((x) => x.segments.length > 0 && x.rollups.length > 0)!;
    const seg = m.segments.find((s) => s.rows >= 3)!;
    const r = await cli(b.prefix, 'inspect-segment', seg.id, '--rows', '3', '--json');
    expect(r.code, r.stderr).toBe(0);
    const rows = await readRawEvents(b.inst.db.store, seg);
    expect(r.json).toMatchObject({
      id: seg.id,
      kind: 'raw',
      shard: m.shard,
      generation: m.generation,
      key: seg.key,
      live: true,
      object: { exists: true, rows: seg.rows, bytes: seg.bytes },
    });
    expect(r.json.entry).toEqual({ ...seg });
    expect(r.json.sample_rows).toEqual(rows.slice(0, 3).map((e) => ({ ...e, quantity: e.quantity.toString() })));

    const rollup = m.rollups[0]!;
    const rr = await cli(b.prefix, 'inspect-segment', rollup.id);
    expect(rr.code).toBe(0);
    expect(rr.stdout).toContain(`rollup segment ${rollup.id} in shard ${m.shard}`);
    expect(rr.stdout).toContain(`object: ${rollup.bytes} bytes, ${rollup.rows} rows`);
    expect(rr.stdout).toContain(`first ${Math.min(10, rollup.rows)} row(s):`);

    const missing = await cli(b.prefix, 'inspect-segment', 'no-such-segment');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no shard lists segment no-such-segment');
    expect((await cli(b.prefix, 'inspect-segment')).code).toBe(2);
  });
});

describe('usagedb verify-period', () => {
  it('agrees with the ingested events (exit 0) and exits 1 on drift', async () => {
    const want = b.events.filter((e) => e.account_id === 'acct-1');
    const r = await cli(b.prefix, 'verify-period', '--account', 'acct-1', ...JAN, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({
      account_id: 'acct-1',
      from: '2026-01-01T00:00:00.000Z',
      to: '2026-02-01T00:00:00.000Z',
      raw_total: sumOf(want).toString(),
      raw_count: want.length,
      rollup_total: sumOf(want).toString(),
      drift: '0',
      matches: true,
    });
    expect(r.json.rollups).toBeGreaterThan(0);
    const human = await cli(b.prefix, 'verify-period', '--account', 'acct-1', '--from', '2026-01-01T00:00:00Z', '--to', '2026-02-01');
    expect(human.stdout).toContain('OK: totals match');

    // A rollup whose object no longer matches its inputs: +1 on one row.
    const m = (await manifests()).find((x) => x.rollups.length > 0)!;
    const rollup = m.rollups[0]!;
    const original = (await getBytes(b.inst.db.store, rollup.key))!.body;
    const rows = rollupColumnsToRows(decodeRollupSegment(original));
    const victim = rows[0]!;
    rows[0] = { ...victim, quantity_sum: victim.quantity_sum + 1n };
    await b.inst.db.store.put(rollup.key, encodeRollupSegment(rows, (a) => bucketOf(a, b.inst.db.info.bucket_count)).bytes);
    try {
      const d = await cli(b.prefix, 'verify-period', '--account', victim.account_id, ...JAN, '--json');
      expect(d.code).toBe(1);
      expect(d.json).toMatchObject({ drift: '1', matches: false });
      const deep = await cli(b.prefix, 'check', '--deep', '--json');
      expect(deep.code).toBe(1);
      expect(deep.json.problems.filter((p: { id: string }) => p.id === rollup.id).map((p: { message: string }) => p.message)).toContain(
        `quantity_sum: object has ${BigInt(rollup.quantity_sum) + 1n}, manifest says ${rollup.quantity_sum}`,
      );
    } finally {
      await b.inst.db.store.put(rollup.key, original);
    }
  });

  it('needs --account, --from and --to (exit 2)', async () => {
    expect((await cli(b.prefix, 'verify-period', ...JAN)).code).toBe(2);
    expect((await cli(b.prefix, 'verify-period', '--account', 'a', '--from', '2026-13-01', '--to', '2026-02-01')).code).toBe(2);
    expect((await cli(b.prefix, 'verify-period', '--account', 'a', '--from', '2026-02-01', '--to', '2026-01-01')).code).toBe(2);
  });
});

describe('usagedb jobs', () => {
  it('runs gc as a dry run over every shard; refuses a dry run of other jobs and unknown jobs', async () => {
    const before = await manifests();
    const r = await cli(b.prefix, 'jobs', 'run', 'gc', '--dry-run', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ job: 'gc', shards: 4, failed: 0 });
    expect(r.json.results.slice(0, 4).map((x: { shard: number; dry_run: boolean }) => [x.shard, x.dry_run])).toEqual([
      [0, true],
      [1, true],
      [2, true],
      [3, true],
    ]);
    expect(r.json.results[4]).toHaveProperty('scratch_deleted');
    expect((await manifests()).map((m) => m.generation)).toEqual(before.map((m) => m.generation));
    expect((await cli(b.prefix, 'jobs', 'run', 'rollup', '--dry-run')).code).toBe(2);
    expect((await cli(b.prefix, 'jobs', 'run', 'vacuum')).code).toBe(2);
    expect((await cli(b.prefix, 'jobs', 'start', 'gc')).code).toBe(2);
  });
});
