/** Writes a benchmark's figures, with when, where and against what they ran, to test/bench/results/<name>.json. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

export function writeResult<T extends object>(name: string, store: string, figures: T) {
  const result = {
    benchmark: name,
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    store,
    ...figures,
  };
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}
