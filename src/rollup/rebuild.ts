/**
 * rebuild-rollups: per shard, ONE commit (`dropRollups`) that drops every rollup whose hours overlap [from, to)
 * and unmarks (`rolled_by` deleted) the raw segments it aggregated, so the next rollup run
 * rebuilds them from raw; raw segments in the range marked `rollup: 'sparse'` lose the mark in
 * the same commit, so that run reconsiders them (they were read as raw before and after). Dropping a rollup and unmarking its inputs happen in the same commit,
 * so `auto` totals are unchanged at every moment; the dropped objects stay readable for a grace
 * period (a replacement record with no outputs) and GC deletes them afterwards.
 */
import { forEachLimit } from '../lib/pool.ts';
import type { Database } from '../manifest/database.ts';
import { applyEdit, type EditOf, type EditResult } from '../manifest/edits.ts';
import type { ManifestStore } from '../manifest/manifest-store.ts';
import type { ShardManifest } from '../manifest/schema.ts';
import { newId, type Deps } from '../model/deps.ts';
import { MINUTE_MS } from '../model/time.ts';

export interface RebuildOptions {
  /** Half-open [from, to) in ms since the epoch (UTC). */
  readonly from: number;
  readonly to: number;
  /** How long dropped rollup objects stay readable for queries that planned before the commit. */
  readonly graceMs?: number;
  /** Only report what would be dropped; commit nothing. */
  readonly dryRun?: boolean;
}

export const DEFAULT_REBUILD_GRACE_MS = 15 * MINUTE_MS;

export interface RebuildShardReport {
  readonly shard: number;
  readonly committed: boolean;
  readonly generation: number;
  /** Ids of the rollups dropped (or, in a dry run, that would be). */
  readonly dropped_rollups: string[];
  /** How many raw segments were unmarked, and their rows. */
  readonly unmarked_segments: number;
  readonly unmarked_rows: number;
  /** How many raw segments in the range lost their `rollup: 'sparse'` mark. */
  readonly cleared_sparse: number;
}

export interface RebuildReport {
  readonly from: number;
  readonly to: number;
  readonly dry_run: boolean;
  readonly shards: RebuildShardReport[];
  readonly dropped_rollups: number;
  readonly unmarked_segments: number;
  readonly cleared_sparse: number;
}

export async function rebuildShardRollups(shard: ManifestStore, deps: Deps, opts: RebuildOptions): Promise<RebuildShardReport> {
  const now = deps.clock.now();
  const edit: EditOf<'dropRollups'> = {
    op: 'dropRollups',
    replacement_id: newId(deps),
    at_ms: now,
    delete_after_ms: now + (opts.graceMs ?? DEFAULT_REBUILD_GRACE_MS),
    from: opts.from,
    to: opts.to,
  };
  const report = (committed: boolean, generation: number, result: EditResult<EditOf<'dropRollups'>> | undefined): RebuildShardReport => {
    const v = result?.status === 'applied' ? result.value : undefined;
    return {
      shard: shard.shard,
      committed,
      generation,
      dropped_rollups: v?.dropped ?? [],
      unmarked_segments: v?.unmarked_segments ?? 0,
      unmarked_rows: v?.unmarked_rows ?? 0,
      cleared_sparse: v?.cleared_sparse ?? 0,
    };
  };
  if (opts.dryRun === true) {
    // What the edit would do to the fresh manifest, applied to a copy of it.
    const fresh = await shard.revalidate();
    return report(false, fresh.manifest.generation, applyEdit(structuredClone(fresh.manifest) as ShardManifest, edit));
  }
  const res = await shard.commit(edit);
  return report(res.committed, res.state.manifest.generation, res.result);
}

/** Runs the rebuild over every shard (a few at a time); shards with nothing to drop or clear commit nothing. */
export async function rebuildRollups(db: Database, opts: RebuildOptions, concurrency = 4): Promise<RebuildReport> {
  if (!(opts.from < opts.to)) throw new RangeError('rebuild-rollups: from must be before to');
  const shards: RebuildShardReport[] = new Array(db.shards.length);
  await forEachLimit(db.shards, concurrency, async (shard) => {
    shards[shard.shard] = await rebuildShardRollups(shard, db.deps, opts);
  });
  return {
    from: opts.from,
    to: opts.to,
    dry_run: opts.dryRun === true,
    shards,
    dropped_rollups: shards.reduce((n, s) => n + s.dropped_rollups.length, 0),
    unmarked_segments: shards.reduce((n, s) => n + s.unmarked_segments, 0),
    cleared_sparse: shards.reduce((n, s) => n + s.cleared_sparse, 0),
  };
}
