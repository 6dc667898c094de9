/**
 * Helpers for the CLI tests: run `runCli` in-process with captured streams and an environment
 * pointing at the test S3 endpoint, and build a database with raw, compacted and rolled-up
 * segments, big quantities and corrections through the real ingest path.
 */
import { runCli } from '../../src/cli/cli.ts';
import { runJob } from '../../src/jobs/run.ts';
import type { UsageEvent } from '../../src/model/event.ts';
import { openInstance, postBatch, storedEvents, usage, type Instance } from '../support/instance.ts';
import { s3Env, testS3Store, uniquePrefix } from '../support/s3.ts';

export { s3Env } from '../support/s3.ts';

export class Capture {
  text = '';
  readonly isTTY = false;
  write(chunk: string | Uint8Array): boolean {
    this.text += typeof chunk === 'string' ? chunk : new TextDecoder().decode(chunk);
    return true;
  }
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (for --json runs). */
  json: any;
}

export async function cli(prefix: string, ...argv: string[]): Promise<CliRun> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runCli(argv, { stdout, stderr, env: s3Env(prefix) });
  let json: unknown;
  try {
    json = JSON.parse(stdout.text);
  } catch {
    json = undefined;
  }
  return { code, stdout: stdout.text, stderr: stderr.text, json };
}

/** 2^64 and beyond, negative ones, and the largest DECIMAL(38,0) magnitude. */
export const BIG_QUANTITIES = [
  '36893488147419103232',
  '-18446744073709551621',
  '99999999999999999999999999999999999999',
  '-99999999999999999999999999999999999999',
  '340282366920938463463374607431',
];

/** Client events: usage over 7 accounts and 3 days, big quantities, a correction, a retraction. */
export function clientEvents(run: string, n: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      usage(i, {
        event_id: `${run}-e${i}`,
        timestamp_ms: Date.UTC(2026, 0, 1) + i * 997_000,
        ...(i % 5 === 0 ? { subscription_id: `sub-${i % 3}`, model_id: null } : {}),
      }),
    );
  }
  for (const [k, q] of BIG_QUANTITIES.entries())
    out.push(usage(1000 + k, { event_id: `${run}-big${k}`, account_id: `acct-${k}`, quantity: q, timestamp_ms: Date.UTC(2026, 0, 2, k) }));
  out.push(
    usage(2000, {
      event_id: `${run}-corr`,
      kind: 'Correction',
      correction_ref: { original_event_id: `${run}-e1`, reason: 'over-counted "tokens"\n' },
      quantity: -50,
      account_id: 'acct-1',
    }),
  );
  out.push(
    usage(2001, {
      event_id: `${run}-retr`,
      kind: 'Retraction',
      correction_ref: { original_event_id: `${run}-e2`, reason: 'test' },
      quantity: -102,
      account_id: 'acct-2',
    }),
  );
  return out;
}

export interface Built {
  inst: Instance;
  prefix: string;
  events: UsageEvent[];
}

/** Every rollup written (ratio 1): these events barely repeat a key within an hour, and the CLI's tools are tested over rollups. */
const FAST = { compact: { graceMs: 0 }, rollup: { graceMs: 0, maxRowsRatio: 1 } };

/**
 * A database with compacted + rolled segments and, after them, unrolled raw segments: `batches`
 * ingests of the events, compaction and rollup after the first half.
 */
export async function buildDb(name: string, opts: { events?: number; batches?: number; extra?: Record<string, unknown>[] } = {}): Promise<Built> {
  const prefix = uniquePrefix(name);
  const inst = await openInstance(testS3Store(), prefix, { shards: 4, buckets: 16 });
  const all = [...clientEvents(prefix.replace(/\W/g, ''), opts.events ?? 240), ...(opts.extra ?? [])];
  const batches = opts.batches ?? 4;
  const size = Math.ceil(all.length / batches);
  for (let b = 0; b < batches; b++) {
    const res = await postBatch(inst.app, all.slice(b * size, (b + 1) * size));
    if (res.status !== 200 || res.body.rejected !== 0) throw new Error(`ingest failed: ${JSON.stringify(res.body)}`);
    if (b === Math.floor(batches / 2) - 1) {
      await runJob(inst.db, 'compact', FAST);
      await runJob(inst.db, 'rollup', FAST);
    }
  }
  await inst.ingestor.idle(); // history copies of ingest commits, before another process reads them
  return { inst, prefix, events: await storedEvents(inst.db) };
}

/** Every event as the NDJSON export writes it (API shape, quantity a string). */
export function asJson(e: UsageEvent): Record<string, unknown> {
  return { ...e, quantity: e.quantity.toString() };
}

export function sumOf(events: readonly UsageEvent[]): bigint {
  return events.reduce((s, e) => s + e.quantity, 0n);
}
