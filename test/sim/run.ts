/**
 * `npm run sim -- --runs N --seed S [--minio]`: a longer simulation than CI's budget. Runs the
 * same vitest file with SIM_RUNS / SIM_SEED so failures shrink and print their seed the same way.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '200' }, seed: { type: 'string', default: String(Date.now() % 1_000_000_007) } } });
const vitest = join(import.meta.dirname, '../../node_modules/vitest/vitest.mjs');
console.log(`[sim] runs=${values.runs} seed=${values.seed}`);
const r = spawnSync(process.execPath, [vitest, 'run', 'test/sim/sim.test.ts'], {
  stdio: 'inherit',
  env: { ...process.env, SIM_RUNS: values.runs, SIM_SEED: values.seed },
});
process.exit(r.status ?? 1);
