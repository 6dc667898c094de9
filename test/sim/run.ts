/**
 * `npm run sim -- --runs N --seed S [--commands C] [--minio]`: a longer simulation than CI's
 * budget. Runs the same vitest file (the MinIO one with --minio) with SIM_RUNS / SIM_SEED /
 * SIM_COMMANDS so failures shrink and print their seed the same way.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '200' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000_007) },
    commands: { type: 'string' },
    minio: { type: 'boolean', default: false },
  },
});
const vitest = join(import.meta.dirname, '../../node_modules/vitest/vitest.mjs');
console.log(`[sim] runs=${values.runs} seed=${values.seed}${values.minio ? ' on MinIO' : ''}`);
const file = values.minio ? 'test/sim/sim.minio.test.ts' : 'test/sim/sim.test.ts';
const r = spawnSync(process.execPath, [vitest, 'run', file], {
  stdio: 'inherit',
  env: { ...process.env, SIM_RUNS: values.runs, SIM_SEED: values.seed, ...(values.commands === undefined ? {} : { SIM_COMMANDS: values.commands }) },
});
process.exit(r.status ?? 1);
