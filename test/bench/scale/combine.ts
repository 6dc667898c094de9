/**
 * Joins bench:scale results files written by separate runs (for example one per store, run side
 * by side with --out) into test/bench/results/scale.json, re-evaluating the goals over all of
 * them, and prints the table and goals:  node test/bench/scale/combine.ts a.json b.json
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluateGoals, printGoals, printTable, type SizeResult } from './report.ts';

interface ResultsFile {
  readonly store: string;
  readonly wall_seconds: number;
  readonly args: Record<string, unknown>;
  readonly empty_database: Record<string, unknown>;
  readonly sizes: SizeResult[];
  readonly [k: string]: unknown;
}

const files = process.argv.slice(2);
if (files.length === 0) throw new Error('usage: node test/bench/scale/combine.ts RESULTS.json...');
const parts = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as ResultsFile);
const first = parts[0]!;
const sizes = parts.flatMap((p) => p.sizes);
const combined = {
  ...first,
  store: parts.map((p) => p.store).join(','),
  args: { ...first.args, stores: parts.map((p) => p.store) },
  wall_seconds: Math.max(...parts.map((p) => p.wall_seconds)),
  wall_seconds_per_run: Object.fromEntries(parts.map((p) => [p.store, p.wall_seconds])),
  empty_database: Object.assign({}, ...parts.map((p) => p.empty_database)),
  sizes,
  goals: evaluateGoals(sizes),
  combined_from: `${parts.length} runs side by side (one per store), joined by test/bench/scale/combine.ts`,
};
writeFileSync(join(import.meta.dirname, '..', 'results', 'scale.json'), `${JSON.stringify(combined, null, 2)}\n`);
printTable(sizes);
printGoals(combined.goals);
