/**
 * bench:scale in --quick mode on the memory store, tiny sizes: the bench runs end to end and its
 * results are structurally right (exact counts and totals against the workload's own truth, the
 * results file's shape). No timing is asserted.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { Goal, SizeResult } from './report.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const dir = mkdtempSync(join(tmpdir(), 'usagedb-scale-smoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Results {
  benchmark: string;
  args: { sizes: string[]; stores: string[]; eventsPerDay: number; smallCommits: number; smallCommitEvents: number; firstIngestEvents: number };
  sizes: SizeResult[];
  goals: Goal[];
}

describe('bench:scale --quick (memory store)', () => {
  it('builds, measures and writes exact, well-formed results', async () => {
    const out = join(dir, 'scale.json');
    const args = [
      'test/bench/scale.bench.ts',
      '--quick',
      '--store',
      'memory',
      '--sizes',
      '1d,2d',
      '--events-per-day',
      '600',
      '--small-commits',
      '3',
      '--cold-samples',
      '2',
      '--warm-reps',
      '1',
      '--out',
      out,
    ];
    const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    expect(stdout).toContain('issue 15 goals:');
    const r = JSON.parse(readFileSync(out, 'utf8')) as Results;
    expect(r.benchmark).toBe('scale');
    expect(r.args.sizes).toEqual(['1d', '2d']);
    expect(r.sizes.map((s) => [s.store, s.size, s.days])).toEqual([
      ['memory', '1d', 1],
      ['memory', '2d', 2],
    ]);
    for (const s of r.sizes) {
      // Built events: days x rate, all in the manifests' raw segments exactly once.
      expect(s.events).toBe(s.days * 600);
      expect(s.segments.rows).toBe(s.events);
      expect(s.events_in_window).toBe(s.events);
      // Then the small commits and the two HTTP ingests joined the truth.
      expect(s.truth.events).toBe(s.events + 3 * r.args.smallCommitEvents + 2 * r.args.firstIngestEvents);
      expect(s.monthly_total_ms.exact).toBe(true);
      expect(s.monthly_total_ms.accounts).toBe(2);
      expect(Object.values(s.truth.month_totals).every((q) => q > 0)).toBe(true);
      expect(s.job_errors).toEqual({});
      expect(s.manifest_bytes_per_shard.shards).toBeGreaterThanOrEqual(1);
      expect(s.manifest_bytes_per_shard.max).toBeGreaterThan(0);
      expect(s.segments.raw_compacted).toBe(s.segments.raw);
      // The rollup job processed the data: rollups where keys repeat by hour, sparse marks where they do not (this workload's).
      expect(s.segments.rollup + (s.segments.raw_sparse ?? 0)).toBeGreaterThan(0);
      expect(s.stored_by_kind.raw_data?.bytes).toBeGreaterThan(0);
      expect(s.stored_by_kind.raw_hashes?.bytes).toBeGreaterThan(0);
      expect(s.stored_bytes).toBe(Object.values(s.stored_by_kind).reduce((n, k) => n + k.bytes, 0));
      expect(s.gzip_ndjson_bytes_per_event).toBeGreaterThan(0);
      // A day later the data is all still there (its raw bytes unchanged or re-compacted, never gone).
      expect(s.a_day_later?.stored_by_kind.raw_data?.bytes).toBeGreaterThan(0);
      expect(s.a_day_later?.stored_vs_gzip).toBeGreaterThan(0);
      expect(s.commit_ms.n).toBe(3);
      expect(s.fresh_process.rss_after_first_bytes).toBeNull(); // no process on the memory store
    }
    expect(r.goals.length).toBeGreaterThan(0);
    for (const g of r.goals) expect(typeof g.goal).toBe('string');
  }, 120_000);
});
