/**
 * The real Worker in workerd under concurrency (issue 19), on the S3 driver against MinIO: the
 * load of test/support/worker-concurrency.ts (16 concurrent ingests beside queries and a cron
 * run on a cold isolate; exact outcomes and totals; no cross-request warnings). The same load on
 * the R2 binding: worker-concurrency-r2.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Miniflare as MiniflareType } from 'miniflare';
import { s3Env, uniquePrefix } from '../support/s3.ts';
import { concurrentIngestsAnswerExactly, REQUESTS } from '../support/worker-concurrency.ts';
import { bundleWorker, RuntimeOutput, startWorkerd } from '../support/workerd.ts';

const output = new RuntimeOutput();
const SECRET = `worker-conc-${crypto.randomUUID()}`;

describe('Worker (workerd) under concurrent requests', () => {
  let mf: MiniflareType | undefined;
  let outdir: string | undefined;

  beforeAll(async () => {
    outdir = await mkdtemp(join(tmpdir(), 'usagedb-worker-conc-'));
    const scriptPath = await bundleWorker(outdir, output);
    mf = await startWorkerd(
      scriptPath,
      outdir,
      {
        ...s3Env(uniquePrefix('worker-conc')),
        USAGEDB_SHARDS: '4',
        USAGEDB_BUCKETS: '16',
        USAGEDB_API_KEYS: `tester:${SECRET}:admin`,
      },
      output,
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
