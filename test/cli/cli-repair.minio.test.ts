/**
 * The CLI's repair tools against MinIO: rebuild-rollups (one commit per shard, totals unchanged
 * through source=auto, the next rollup run re-rolls — what compaction merges first, after that
 * compaction) and manifest history/show/restore, including restoring a shard whose current.json
 * is corrupt.
 */
import { describe, expect, it } from 'vitest';
import type { Instance } from '../support/instance.ts';
import { openInstance, postBatch, usage } from '../support/instance.ts';
import { testS3Store, uniquePrefix } from '../support/s3.ts';
import type { QuerySpec } from '../../src/query/spec.ts';
import { buildDb, cli } from './cli-support.ts';

const HOUR = 3_600_000;
const FROM = Date.UTC(2026, 0, 1);
const TO = Date.UTC(2026, 1, 1);

async function total(inst: Instance, account: string | undefined, source: QuerySpec['source'], from = FROM, to = TO): Promise<[string, number]> {
  const r = await inst.engine.aggregate({
    accountId: account,
    from,
    to,
    groupBy: [],
    filters: [],
    metrics: ['sum', 'count'],
    source,
    orderBy: [],
    limit: undefined,
  });
  const l = r.lines[0];
  return l === undefined ? ['0', 0] : [String(l.quantity), Number(l.count)];
}

async function totals(inst: Instance, accounts: string[]): Promise<unknown[]> {
  const cut = [FROM + 5 * HOUR + 123_456, FROM + 40 * HOUR - 999] as const;
  const out: unknown[] = [];
  for (const a of [undefined, ...accounts]) out.push(a, await total(inst, a, 'auto'), await total(inst, a, 'raw'), await total(inst, a, 'auto', ...cut));
  return out;
}

const manifests = (inst: Instance) => Promise.all(inst.db.shards.map(async (s) => (await s.revalidate()).manifest));

describe('usagedb rebuild-rollups', () => {
  it('drops overlapping rollups and unmarks their inputs in one commit per shard; totals never change; the next rollup run re-rolls', async () => {
    const { inst, prefix } = await buildDb('cli-rebuild');
    const accounts = ['acct-0', 'acct-1', 'acct-2', 'acct-3', 'acct-4', 'acct-5', 'acct-6'];
    const want = await totals(inst, accounts);
    const before = await manifests(inst);
    const from = FROM;
    const to = FROM + 6 * HOUR;
    const overlapping = new Set(before.flatMap((m) => m.rollups.filter((r) => r.min_hour_ms < to && r.max_hour_ms + HOUR > from).map((r) => r.id)));
    expect(overlapping.size).toBeGreaterThan(0);

    const r = await cli(prefix, 'rebuild-rollups', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-01T06:00:00Z', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.dropped_rollups).toBe(overlapping.size);
    const after = await manifests(inst);
    let unmarked = 0;
    for (const [i, m] of after.entries()) {
      const old = before[i]!;
      const dropped = old.rollups.filter((x) => overlapping.has(x.id));
      expect(m.generation, `shard ${i}`).toBe(old.generation + (dropped.length > 0 ? 1 : 0));
      expect(r.json.shards[i]).toMatchObject({ shard: i, committed: dropped.length > 0, dropped_rollups: dropped.map((x) => x.id).sort() });
      expect(m.rollups.map((x) => x.id)).toEqual(old.rollups.filter((x) => !overlapping.has(x.id)).map((x) => x.id));
      for (const [j, s] of m.segments.entries()) {
        const was = old.segments[j]!;
        expect(s.id).toBe(was.id);
        if (was.rolled_by !== undefined && overlapping.has(was.rolled_by)) {
          expect(s.rolled_by).toBeUndefined();
          unmarked++;
        } else expect(s.rolled_by).toBe(was.rolled_by);
      }
      if (dropped.length > 0)
        expect(m.replacements.at(-1)).toMatchObject({ kind: 'rollup', inputs: dropped.map((x) => ({ id: x.id, key: x.key })), outputs: [] });
    }
    expect(r.json.unmarked_segments).toBe(unmarked);
    expect(await totals(inst, accounts)).toEqual(want);
    for (const a of accounts) expect((await cli(prefix, 'verify-period', '--account', a, '--from', '2026-01-01', '--to', '2026-02-01')).code, a).toBe(0);

    // Nothing overlaps a range before any data: no commit anywhere.
    const none = await cli(prefix, 'rebuild-rollups', '--from', '2025-01-01', '--to', '2025-02-01', '--json');
    expect(none.code).toBe(0);
    expect(none.json.shards.map((s: { committed: boolean }) => s.committed)).toEqual([false, false, false, false]);
    expect((await manifests(inst)).map((m) => m.generation)).toEqual(after.map((m) => m.generation));

    // The next rollup run processes the unmarked segments again, except small ones the next
    // compaction merges first (with newer events of their days): those after that compaction. With
    // the default ratio these events (a few per key and hour) are marked sparse, not rolled.
    const rollup = await cli(prefix, 'jobs', 'run', 'rollup', '--json');
    expect(rollup.code, rollup.stderr).toBe(0);
    expect(rollup.json.failed).toBe(0);
    expect(await totals(inst, accounts)).toEqual(want);
    const compact = await cli(prefix, 'jobs', 'run', 'compact', '--json');
    expect(compact.code).toBe(0);
    expect(await totals(inst, accounts)).toEqual(want);
    const again = await cli(prefix, 'jobs', 'run', 'rollup', '--json');
    expect(again.code, again.stderr).toBe(0);
    for (const m of await manifests(inst)) for (const s of m.segments) expect(s.rolled_by !== undefined || s.rollup === 'sparse', s.id).toBe(true);
    expect(await totals(inst, accounts)).toEqual(want);
  });

  it('needs both ends of the range (exit 2)', async () => {
    expect((await cli('t/none', 'rebuild-rollups', '--from', '2026-01-01')).code).toBe(2);
  });
});

describe('usagedb manifest', () => {
  it('lists history, shows a generation, restores one (with --yes), and repairs a corrupt current.json', async () => {
    const prefix = uniquePrefix('cli-manifest');
    const inst = await openInstance(testS3Store(), prefix, { shards: 4, buckets: 16 });
    const shard = inst.db.shardOf('acct-1');
    const a = [usage(1, { account_id: 'acct-1', quantity: '18446744073709551617' }), usage(2, { account_id: 'acct-1' })];
    const b = [usage(3, { account_id: 'acct-1', quantity: 5 })];
    expect((await postBatch(inst.app, a)).body.accepted).toBe(2);
    const genA = (await shard.revalidate()).manifest.generation;
    const segsA = (await shard.revalidate()).manifest.segments.map((s) => s.id);
    expect((await postBatch(inst.app, b)).body.accepted).toBe(1);
    const snapB = await shard.revalidate();
    const genB = snapB.manifest.generation;
    const segB = snapB.manifest.segments.find((s) => !segsA.includes(s.id))!.id;
    const n = String(shard.shard);
    // Ingest writes history copies after answering; the CLI (another process) lists them.
    await inst.ingestor.idle();

    const h = await cli(prefix, 'manifest', 'history', '--shard', n, '--json');
    expect(h.code, h.stderr).toBe(0);
    expect(h.json.current_generation).toBe(genB);
    expect(h.json.generations).toEqual(Array.from({ length: genB }, (_, i) => i + 1));
    expect(h.json.recent[0]).toMatchObject({ generation: genB, segments: segsA.length + 1 });

    const show = await cli(prefix, 'manifest', 'show', String(genA), '--shard', n, '--json');
    expect(show.code).toBe(0);
    expect(show.json.manifest.generation).toBe(genA);
    expect(show.json.manifest.segments.map((s: { id: string }) => s.id)).toEqual(segsA);
    expect((await cli(prefix, 'manifest', 'show', '999', '--shard', n)).code).toBe(1);
    expect((await cli(prefix, 'manifest', 'show', String(genA))).code).toBe(2);

    const unconfirmed = await cli(prefix, 'manifest', 'restore', String(genA), '--shard', n);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toContain('stops listing 1 raw segment(s) committed since; add --yes to confirm');
    expect((await shard.revalidate()).manifest.generation).toBe(genB);

    const restored = await cli(prefix, 'manifest', 'restore', String(genA), '--shard', n, '--yes', '--json');
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.json).toEqual({ shard: shard.shard, restored_from: genA, generation: genB + 1, segments_no_longer_listed: [segB], missing_objects: [] });
    expect(await total(inst, 'acct-1', 'auto')).toEqual([(18446744073709551617n + 102n).toString(), 2]);

    // A corrupt current.json fails the shard closed; check names it; restore repairs it.
    await inst.db.store.put(shard.keys.current, new TextEncoder().encode('{"not": "a manifest"'));
    const broken = await cli(prefix, 'check', '--json');
    expect(broken.code).toBe(1);
    expect(broken.json.problems).toHaveLength(1);
    expect(broken.json.problems[0]).toMatchObject({ shard: shard.shard, kind: 'manifest', id: 'current.json' });
    const repaired = await cli(prefix, 'manifest', 'restore', String(genB), '--shard', n, '--yes', '--json');
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(repaired.json.generation).toBe(genB + 2);
    expect((await cli(prefix, 'check', '--deep')).code).toBe(0);
    expect(await total(inst, 'acct-1', 'auto')).toEqual([(18446744073709551617n + 102n + 5n).toString(), 3]);
  });
});
