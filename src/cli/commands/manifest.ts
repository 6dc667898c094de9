/**
 * `usagedb manifest history|show|restore --shard N`: a shard's committed generations (rebuilt
 * from history: full copies and edit records), one generation in full, and restoring one as the new current manifest through a
 * conditional write. Restore needs --yes: it drops whatever was committed after that generation.
 */
import { intArg, intFlag, noMorePositionals, stringFlag, type Command } from '../args.ts';
import { CliUsageError, EXIT, iso, table, type Context } from '../context.ts';
import type { Database } from '../../manifest/database.ts';
import type { ManifestStore } from '../../manifest/manifest-store.ts';
import { forEachLimit } from '../../lib/pool.ts';

function shardOf(db: Database, values: Record<string, string | boolean | undefined>): ManifestStore {
  if (stringFlag(values, 'shard') === undefined) throw new CliUsageError('--shard is required');
  const n = intFlag(values, 'shard', 0, 0, db.shards.length - 1);
  return db.shards[n]!;
}

export const manifestCommand: Command = {
  name: 'manifest',
  summary: "a shard's manifest generations: history, show <gen>, restore <gen>",
  help: `usagedb manifest history --shard N [--limit K]
usagedb manifest show <generation> --shard N
usagedb manifest restore <generation> --shard N --yes

  history   generations history can rebuild (a full copy, or edit records down to one); the newest K (default 20) with their contents summarized
  show      one generation's full manifest (JSON)
  restore   puts that generation back as current, under a new generation number. Segments,
            rollups and period changes committed after it are no longer listed (their objects
            stay until GC): --yes confirms. Works on a shard whose current.json is corrupt.`,
  options: { shard: { type: 'string' }, limit: { type: 'string' }, yes: { type: 'boolean' } },
  async run(ctx: Context, args) {
    const [verb, genArg] = args.positionals;
    if (verb === 'history') {
      noMorePositionals(args, 1);
      const limit = intFlag(args.values, 'limit', 20, 0, 10_000);
      const db = await ctx.open({ probe: false });
      const shard = shardOf(db, args.values);
      const gens = await shard.history();
      let current: number | null = null;
      try {
        current = (await shard.revalidate()).manifest.generation;
      } catch {
        // A corrupt current.json: history is exactly what the operator needs then.
      }
      // One replay per chain of edit records, however many of its generations are shown.
      const rebuilt = await shard.readGenerations(gens.slice(-limit));
      const recent = gens
        .slice(-limit)
        .reverse()
        .map((g) => {
          const m = rebuilt.get(g);
          if (m !== undefined && !(m instanceof Error)) {
            return {
              generation: g,
              commit_id: m.commit_id,
              updated_at: iso(m.updated_at_ms),
              restored_from: m.restored_from ?? null,
              segments: m.segments.length,
              rollups: m.rollups.length,
              periods: m.periods.length,
            };
          }
          return {
            generation: g,
            commit_id: null,
            updated_at: null,
            restored_from: null,
            segments: null,
            rollups: null,
            periods: null,
            error: m?.message ?? 'not rebuilt',
          };
        });
      ctx.emit({ shard: shard.shard, current_generation: current, generations: gens, recent }, () =>
        [
          `shard ${shard.shard}: current generation ${current ?? 'UNREADABLE'}, ${gens.length} restorable generations${gens.length > 0 ? ` (${gens[0]}..${gens[gens.length - 1]})` : ''}`,
          table(
            ['gen', 'updated_at', 'segments', 'rollups', 'periods', 'restored_from', 'commit_id'],
            recent.map((r) => [
              r.generation,
              r.updated_at ?? 'UNREADABLE',
              r.segments ?? '-',
              r.rollups ?? '-',
              r.periods ?? '-',
              r.restored_from ?? '',
              r.commit_id ?? '-',
            ]),
          ),
        ].join('\n'),
      );
      return EXIT.ok;
    }
    if (verb === 'show') {
      noMorePositionals(args, 2);
      const gen = intArg(genArg, 'manifest show <generation>');
      const db = await ctx.open({ probe: false });
      const shard = shardOf(db, args.values);
      const m = await shard.readGeneration(gen);
      if (ctx.json) ctx.emit({ shard: shard.shard, generation: gen, manifest: m }, () => '');
      else ctx.io.stdout.write(`${JSON.stringify(m, null, 2)}\n`);
      return EXIT.ok;
    }
    if (verb === 'restore') {
      noMorePositionals(args, 2);
      const gen = intArg(genArg, 'manifest restore <generation>');
      const db = await ctx.open({ probe: true });
      const shard = shardOf(db, args.values);
      const target = await shard.readGeneration(gen);
      let dropped: string[] = [];
      try {
        const cur = (await shard.revalidate()).manifest;
        const keep = new Set(target.segments.map((s) => s.id));
        dropped = cur.segments.filter((s) => !keep.has(s.id)).map((s) => s.id);
      } catch {
        // current.json is corrupt: nothing readable to compare with.
      }
      // Objects GC already deleted (older than its retained history) would be listed but missing.
      const keys = [...target.segments.flatMap((s) => (s.hashes_key === undefined ? [s.key] : [s.key, s.hashes_key])), ...target.rollups.map((r) => r.key)];
      const missing: string[] = [];
      await forEachLimit(keys, 16, async (k) => {
        if ((await db.store.head(k)) === null) missing.push(k);
      });
      if (args.values.yes !== true) {
        throw new CliUsageError(
          `restoring shard ${shard.shard} to generation ${gen} stops listing ${dropped.length} raw segment(s) committed since` +
            `${missing.length > 0 ? ` and lists ${missing.length} object(s) that no longer exist` : ''}; add --yes to confirm`,
        );
      }
      const snap = await shard.restore(gen);
      const out = {
        shard: shard.shard,
        restored_from: gen,
        generation: snap.manifest.generation,
        segments_no_longer_listed: dropped,
        missing_objects: missing.sort(),
      };
      ctx.emit(
        out,
        () =>
          `shard ${shard.shard}: generation ${gen} restored as generation ${snap.manifest.generation}${dropped.length > 0 ? `; ${dropped.length} raw segment(s) no longer listed: ${dropped.join(', ')}` : ''}${missing.length > 0 ? `; WARNING: ${missing.length} listed object(s) are missing (run \`usagedb check --deep\`)` : ''}`,
      );
      return EXIT.ok;
    }
    throw new CliUsageError('usage: usagedb manifest history|show|restore ... --shard N');
  },
};
