/**
 * The Worker concurrency load (test/support/worker-concurrency.ts: 16 concurrent ingests beside
 * queries and a cron run on a cold isolate; exact outcomes and totals; no cross-request
 * warnings) on the native R2 binding: the real Worker bundle in workerd with USAGEDB_STORE=r2 and
 * miniflare's R2 simulation bound as USAGEDB_R2. Needs no MinIO. Never skipped.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Miniflare as MiniflareType } from 'miniflare';
import { concurrentIngestsAnswerExactly, REQUESTS } from '../support/worker-concurrency.ts';
import { bundleWorker, RuntimeOutput, startWorkerd } from '../support/workerd.ts';

const output = new RuntimeOutput();
const SECRET = `worker-conc-r2-${crypto.randomUUID()}`;

describe('Worker (workerd) under concurrent requests, on the R2 binding', () => {
  let mf: MiniflareType | undefined;
  let outdir: string | undefined;

  beforeAll(async () => {
    outdir = await mkdtemp(join(tmpdir(), 'usagedb-worker-conc-r2-'));
    const scriptPath = await bundleWorker(outdir, output);
    mf = await startWorkerd(
      scriptPath,
      outdir,
      { USAGEDB_STORE: 'r2', USAGEDB_PREFIX: 'worker-conc-r2', USAGEDB_SHARDS: '4', USAGEDB_BUCKETS: '16', USAGEDB_API_KEYS: `tester:${SECRET}:admin` },
      output,
      { r2Buckets: { USAGEDB_R2: 'usagedb' } },
    );
  }, 120_000);

  afterAll(async () => {
    await mf?.dispose();
    if (outdir !== undefined) await rm(outdir, { recursive: true, force: true });
  });

  it(`answers ${REQUESTS} concurrent ingests exactly, beside queries and a cron run, with no cross-request warnings`, async () => {
    if (mf === undefined) throw new Error(output.explain('workerd is not running'));
    await concurrentIngestsAnswerExactly(mf, output, SECRET);
  }, 120_000);
});
