/**
 * The simulation property: random command sequences against 2-4 instances over one store, the
 * model checked after every sequence (and by `check` commands inside it). Replays from a seed
 * and shrinks to a short command list on failure.
 */
import fc from 'fast-check';
import type { ObjectStore } from '../../src/store/types.ts';
import { commands, checkInvariants } from './commands.ts';
import { Model } from './model.ts';
import { makeWorld } from './world.ts';

export interface SimOptions {
  readonly runs: number;
  readonly seed: number;
  readonly maxCommands: number;
  /** A real store (MinIO) instead of the deterministic memory store. */
  readonly store?: () => { store: ObjectStore; prefix: string };
}

export interface SimStats {
  sequences: number;
  commands: number;
  /** Sequences that ended with a lean segment (no hashes: written past the window or stripped) listed. */
  withLean: number;
  /** Sequences that ended with a rollup in row groups listed. */
  withGroups: number;
  /** Sequences that ended with a lean raw segment in row groups listed. */
  withRawGroups: number;
  /** Sequences that ended with a raw segment in row groups still carrying hashes (inside the dedupe window). */
  withWindowGroups: number;
  /** Sequences that ended with a raw segment the rollup job marked sparse (not worth a rollup) listed. */
  withSparse: number;
  /** Key filter false positives confirmed away by page reads (instances whose filters say "maybe"). */
  falsePositives: number;
}

export async function runSimulation(o: SimOptions): Promise<SimStats> {
  const stats: SimStats = { sequences: 0, commands: 0, withLean: 0, withGroups: 0, withRawGroups: 0, withWindowGroups: 0, withSparse: 0, falsePositives: 0 };
  const instancesArb = fc.integer({ min: 2, max: 4 });
  await fc.assert(
    fc.asyncProperty(
      instancesArb.chain((n) => fc.tuple(fc.constant(n), fc.commands(commands(n), { maxCommands: o.maxCommands, size: 'max' }))),
      async ([n, cmds]) => {
        const real = o.store?.();
        const world = await makeWorld({ seed: o.seed, instances: n, ...(real === undefined ? {} : { base: real.store, prefix: real.prefix }) });
        const model = new Model();
        await fc.asyncModelRun(() => ({ model, real: world }), cmds);
        for (let i = 0; i < world.instances.length; i++) await checkInvariants(model, world, i);
        stats.sequences++;
        stats.commands += model.steps;
        const manifests = await Promise.all(world.instances[0]!.db.shards.map(async (s) => (await s.revalidate()).manifest));
        if (manifests.some((m) => m.segments.some((s) => s.hashes === 'none'))) stats.withLean++;
        if (manifests.some((m) => m.rollups.some((r) => r.directory_bytes !== undefined))) stats.withGroups++;
        if (manifests.some((m) => m.segments.some((s) => s.directory_bytes !== undefined && s.hashes === 'none'))) stats.withRawGroups++;
        if (manifests.some((m) => m.segments.some((s) => s.directory_bytes !== undefined && s.hashes === undefined))) stats.withWindowGroups++;
        if (manifests.some((m) => m.segments.some((s) => s.rollup === 'sparse'))) stats.withSparse++;
        for (const inst of world.instances)
          for (let shard = 0; shard < manifests.length; shard++) stats.falsePositives += inst.ingestor.writer(shard).cold.stats.falsePositives;
      },
    ),
    { numRuns: o.runs, seed: o.seed, endOnFailure: false, verbose: 1 },
  );
  return stats;
}
