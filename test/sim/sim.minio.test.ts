/** A smaller run of the simulation against MinIO (real conditional writes, real latency). */
import { expect, it } from 'vitest';
import { testS3Store, uniquePrefix } from '../support/s3.ts';
import { runSimulation } from './property.ts';

it('the simulation holds against MinIO too', async () => {
  const stats = await runSimulation({ runs: 3, seed: 7, maxCommands: 25, store: () => ({ store: testS3Store(), prefix: uniquePrefix('sim') }) });
  console.log(`[sim] MinIO: ${stats.sequences} sequences, ${stats.commands} commands`);
  expect(stats.sequences).toBeGreaterThanOrEqual(3);
}, 600_000);
