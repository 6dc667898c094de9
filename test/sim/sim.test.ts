/**
 * CI budget of the deterministic simulation (memory store, virtual clock, seeded faults):
 * SIM_RUNS sequences (default 300, ~10 s here) of up to SIM_COMMANDS commands (default 40).
 * `npm run sim -- --runs N --seed S [--commands C]` runs longer; a failure prints its seed and the
 * shrunk command list.
 */
import { expect, it } from 'vitest';
import { runSimulation } from './property.ts';

it('random operations on 2-4 instances with faults never lose or double-count an acknowledged event', async () => {
  const runs = Number(process.env.SIM_RUNS ?? 300);
  const seed = Number(process.env.SIM_SEED ?? 20261125);
  const stats = await runSimulation({ runs, seed, maxCommands: Number(process.env.SIM_COMMANDS ?? 40) });
  console.log(
    `[sim] memory: ${stats.sequences} sequences, ${stats.commands} commands (seed ${seed}); ended with lean segments ${stats.withLean}, grouped rollups ${stats.withGroups}, grouped lean segments ${stats.withRawGroups}, grouped segments with hashes ${stats.withWindowGroups}, sparse-marked segments ${stats.withSparse}; filter false positives confirmed away ${stats.falsePositives}`,
  );
  expect(stats.sequences).toBeGreaterThanOrEqual(runs);
  // The structures the runs are meant to exercise did occur (a long enough run always has them).
  if (runs >= 100)
    expect([
      stats.withLean > 0,
      stats.withGroups > 0,
      stats.withRawGroups > 0,
      stats.withWindowGroups > 0,
      stats.withSparse > 0,
      stats.falsePositives > 0,
    ]).toEqual([true, true, true, true, true, true]);
}, 600_000);
