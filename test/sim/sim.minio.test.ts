/**
 * A smaller run of the simulation against MinIO (real conditional writes, real latency):
 * SIM_RUNS sequences (default 3) of up to SIM_COMMANDS commands (default 25), seed SIM_SEED.
 * `npm run sim -- --minio --runs N` runs more.
 */
import { expect, it } from 'vitest';
import { testS3Store, uniquePrefix } from '../support/s3.ts';
import { runSimulation } from './property.ts';

it('the simulation holds against MinIO too', async () => {
  const runs = Number(process.env.SIM_RUNS ?? 3);
  const seed = Number(process.env.SIM_SEED ?? 7);
  const maxCommands = Number(process.env.SIM_COMMANDS ?? 25);
  const stats = await runSimulation({ runs, seed, maxCommands, store: () => ({ store: testS3Store(), prefix: uniquePrefix('sim') }) });
  console.log(`[sim] MinIO: ${stats.sequences} sequences, ${stats.commands} commands (seed ${seed})`);
  expect(stats.sequences).toBeGreaterThanOrEqual(runs);
}, 3_600_000);
