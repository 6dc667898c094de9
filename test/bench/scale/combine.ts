/**
 * Joins bench:scale results files written by separate runs (for example one per store or per
 * size, run side by side with --out) into test/bench/results/scale.json, re-evaluating the goals over all of
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
const sizes = parts.flatMap((p) => p.sizes).sort((a, b) => a.store.localeCompare(b.store) || a.days - b.days);
const combined = {
  ...first,
  store: [...new Set(parts.map((p) => p.store))].join(','),
  args: { ...first.args, sizes: [...new Set(sizes.map((s) => s.size))], stores: [...new Set(parts.map((p) => p.store))] },
  runs: parts.map((p, i) => ({ file: files[i], store: p.store, sizes: p.sizes.map((s) => s.size), wall_seconds: p.wall_seconds, date: p.date })),
  empty_database: Object.assign({}, ...parts.map((p) => p.empty_database)),
  sizes,
  goals: evaluateGoals(sizes),
  combined_from: `${parts.length} runs, joined by test/bench/scale/combine.ts`,
};
writeFileSync(join(import.meta.dirname, '..', 'results', 'scale.json'), `${JSON.stringify(combined, null, 2)}\n`);
printTable(sizes);
printGoals(combined.goals);
