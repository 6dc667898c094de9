/**
 * `usagedb check [--deep]`: the store's conditional-write probe, a summary of every shard's
 * manifest and its invariants; --deep also reads and verifies every object the manifests
 * reference. Exit 1 when anything is wrong, naming each problem.
 */
import { forEachLimit } from '../../lib/pool.ts';
import type { Database } from '../../manifest/database.ts';
import type { DeepReadonly, ShardManifest } from '../../manifest/schema.ts';
import { intFlag, noMorePositionals, type Command } from '../args.ts';
import { EXIT, iso, table, type Context } from '../context.ts';
import { checkHashes, checkManifest, checkFrozenPeriod, checkRawSegment, checkRollup, type Problem } from '../verify-objects.ts';

export interface ShardSummary {
  readonly shard: number;
  readonly generation: number | null;
  readonly updated_at: string | null;
  /** `sparse`: unrolled segments the rollup job marked not worth a rollup (read as raw). */
  readonly segments: { total: number; rolled: number; compacted: number; unrolled: number; sparse: number };
  readonly rollups: { total: number; event_count: number };
  readonly periods: { open: number; closing: number; closed: number };
  readonly replacements: number;
  readonly conflicts: number;
  /** Bytes of live raw segments + rollups; rows of live raw segments. */
  readonly bytes: number;
  readonly rows: number;
}

export function summarize(shard: number, m: DeepReadonly<ShardManifest>): ShardSummary {
  const count = (state: string) => m.periods.filter((p) => p.state === state).length;
  return {
    shard,
    generation: m.generation,
    updated_at: iso(m.updated_at_ms),
    segments: {
      total: m.segments.length,
      rolled: m.segments.filter((s) => s.rolled_by !== undefined).length,
      compacted: m.segments.filter((s) => s.compacted === true).length,
      unrolled: m.segments.filter((s) => s.rolled_by === undefined).length,
      sparse: m.segments.filter((s) => s.rolled_by === undefined && s.rollup === 'sparse').length,
    },
    rollups: { total: m.rollups.length, event_count: m.rollups.reduce((n, r) => n + r.event_count, 0) },
    periods: { open: count('open'), closing: count('closing'), closed: count('closed') },
    replacements: m.replacements.length,
    conflicts: m.conflicts.length,
    bytes: m.segments.reduce((n, s) => n + s.bytes, 0) + m.rollups.reduce((n, r) => n + r.bytes, 0),
    rows: m.segments.reduce((n, s) => n + s.rows, 0),
  };
}

/**
 * On a live database, compaction + GC may delete an object after this check planned to read it.
 * A missing object is a problem only if the shard's newest manifest still lists it.
 */
async function forgiveCollected(db: Database, problems: Problem[]): Promise<void> {
  const missing = problems.filter((p) => p.shard >= 0 && p.kind !== 'manifest' && p.message.includes('is missing'));
  for (const shard of new Set(missing.map((p) => p.shard))) {
    const m = (await db.shards[shard]!.revalidate()).manifest;
    const listed = new Set([...m.segments.map((s) => s.id), ...m.rollups.map((r) => r.id), ...m.periods.map((p) => `${p.account_id}/${p.month}`)]);
    for (const p of missing) if (p.shard === shard && !listed.has(p.id)) problems.splice(problems.indexOf(p), 1);
  }
}

const EMPTY = {
  segments: { total: 0, rolled: 0, compacted: 0, unrolled: 0, sparse: 0 },
  rollups: { total: 0, event_count: 0 },
  periods: { open: 0, closing: 0, closed: 0 },
  replacements: 0,
  conflicts: 0,
  bytes: 0,
  rows: 0,
};

export const checkCommand: Command = {
  name: 'check',
  summary: 'probe the store, summarize every shard, verify invariants (--deep: every object)',
  help: `usagedb check [--deep] [--concurrency N]

  Without --deep: the conditional-write probe, each shard's manifest summary and its invariants.
  --deep reads every raw segment (checksum, rows, time/ingest/account bounds, quantity_sum), every
  segment's hashes, every rollup (rows, quantity_sum, event_count, hours) and checks every period
  snapshot exists. Exit 0 when healthy, 1 naming each problem.
  --concurrency N      objects read at once (default 8)`,
  options: { deep: { type: 'boolean' }, concurrency: { type: 'string' } },
  async run(ctx: Context, args) {
    noMorePositionals(args, 0);
    const deep = args.values.deep === true;
    const concurrency = intFlag(args.values, 'concurrency', 8, 1, 256);
    const db = await ctx.open({ probe: true });
    const problems: Problem[] = [];
    if (!db.probe.ok) for (const m of db.probe.problems) problems.push({ shard: -1, kind: 'store', id: db.store.kind, message: m });
    const shards: ShardSummary[] = [];
    const manifests: { shard: number; m: DeepReadonly<ShardManifest> }[] = [];
    for (const s of db.shards) {
      try {
        const snap = await s.revalidate();
        shards.push(summarize(s.shard, snap.manifest));
        manifests.push({ shard: s.shard, m: snap.manifest });
        problems.push(...checkManifest(s.shard, snap.manifest));
      } catch (err) {
        shards.push({ shard: s.shard, generation: null, updated_at: null, ...EMPTY });
        problems.push({
          shard: s.shard,
          kind: 'manifest',
          id: 'current.json',
          message: `${(err as Error).message} (see \`usagedb manifest history --shard ${s.shard}\` and \`manifest restore\`)`,
        });
      }
    }
    let objectsChecked = 0;
    if (deep) {
      type Work = () => Promise<Problem[]>;
      const work: Work[] = [];
      for (const { shard, m } of manifests) {
        for (const e of m.segments)
          work.push(
            () => checkRawSegment(db.store, shard, e),
            () => checkHashes(db.store, shard, e),
          );
        for (const r of m.rollups) work.push(() => checkRollup(db.store, shard, r));
        for (const p of m.periods) work.push(() => checkFrozenPeriod(db.store, shard, p));
      }
      const bar = ctx.progress('check --deep', work.length);
      await forEachLimit(work, concurrency, async (w) => {
        problems.push(...(await w()));
        bar.tick();
      });
      bar.end();
      objectsChecked = work.length;
      await forgiveCollected(db, problems);
    }
    problems.sort((a, b) => a.shard - b.shard || a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id));
    const ok = problems.length === 0;
    ctx.emit(
      {
        ok,
        db_id: db.info.db_id,
        shard_count: db.info.shard_count,
        bucket_count: db.info.bucket_count,
        probe: db.probe,
        deep,
        objects_checked: objectsChecked,
        shards,
        problems,
      },
      () => {
        const lines = [
          `database ${db.info.db_id} at ${ctx.where()}: ${db.info.shard_count} shards, ${db.info.bucket_count} buckets`,
          `conditional-write probe: ${db.probe.ok ? 'ok' : `FAILED (${db.probe.problems.join('; ')})`}`,
          '',
          table(
            ['shard', 'gen', 'segments', 'rolled', 'sparse', 'compacted', 'rollups', 'periods o/c/c', 'repl', 'rows', 'bytes'],
            shards.map((s) => [
              s.shard,
              s.generation ?? 'CORRUPT',
              s.segments.total,
              s.segments.rolled,
              s.segments.sparse,
              s.segments.compacted,
              s.rollups.total,
              `${s.periods.open}/${s.periods.closing}/${s.periods.closed}`,
              s.replacements,
              s.rows,
              s.bytes,
            ]),
          ),
          '',
          deep ? `deep check: ${objectsChecked} objects read` : 'manifests only (add --deep to read every object)',
        ];
        if (ok) lines.push('OK: no problems found');
        else {
          lines.push(`${problems.length} problem(s):`);
          for (const p of problems) lines.push(`  ${p.shard < 0 ? 'store' : `shard ${p.shard}`} ${p.kind} ${p.id}: ${p.message}`);
        }
        return lines.join('\n');
      },
    );
    return ok ? EXIT.ok : EXIT.problems;
  },
};
