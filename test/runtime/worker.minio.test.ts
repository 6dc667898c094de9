/**
 * The real Worker in workerd, against the test S3 endpoint (MinIO) on 127.0.0.1: wrangler bundles
 * src/runtime/worker.ts with the project's wrangler.toml (`wrangler deploy --dry-run`, so the
 * alias and nodejs_compat are the deployed ones), and miniflare runs that bundle in workerd with
 * the vars and secrets as string bindings. Never skipped: if wrangler or workerd cannot run, the
 * suite fails and says why, with their output.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { Miniflare as MiniflareType } from 'miniflare';
import { s3Env, uniquePrefix } from '../support/s3.ts';
import { CONSOLE_ASSETS, CONSOLE_PAGE } from '../../src/console/assets.generated.ts';
import { bundleWorker, callWorker, RuntimeOutput, scheduledTarget, startWorkerd } from '../support/workerd.ts';
import { wireEvent } from '../support/wire-event.ts';

const output = new RuntimeOutput();

const SECRET = `worker-test-${crypto.randomUUID()}`;
const ACCOUNT = `acct-worker-${Date.now().toString(36)}`;
const JAN = Date.UTC(2026, 0, 10);

const event = (i: number, quantity: number | string) => wireEvent({ id: `${ACCOUNT}-evt-${i}`, account: ACCOUNT, at: JAN + i * 60_000, quantity });

// One of them beyond 2^53, sent as a decimal string: the sum must come back exact.
const EVENTS = [event(1, 1200), event(2, '9007199254740993'), event(3, 35)];
const TOTAL = (1200n + 9007199254740993n + 35n).toString();

describe('Worker (workerd, wrangler bundle) against S3', () => {
  let mf: MiniflareType | undefined;
  let outdir: string | undefined;

  const call = async (path: string, init: { method?: string; body?: unknown; auth?: boolean } = {}) => {
    if (mf === undefined) throw new Error(output.explain('workerd is not running'));
    return callWorker(mf, path, { ...init, ...(init.auth === false ? {} : { secret: SECRET }) });
  };

  beforeAll(async () => {
    const s3 = inject('s3');
    const started = Date.now();
    outdir = await mkdtemp(join(tmpdir(), 'usagedb-worker-'));
    const scriptPath = await bundleWorker(outdir, output);
    const bundledMs = Date.now() - started;
    mf = await startWorkerd(
      scriptPath,
      outdir,
      {
        ...s3Env(uniquePrefix('worker')),
        USAGEDB_SHARDS: '2',
        USAGEDB_BUCKETS: '8',
        USAGEDB_API_KEYS: `tester:${SECRET}:admin`,
      },
      output,
    );
    console.log(`[worker test] bundled in ${bundledMs} ms, workerd ready in ${Date.now() - started} ms, S3: ${s3.via}`);
  }, 120_000);

  afterAll(async () => {
    await mf?.dispose();
    if (outdir !== undefined) await rm(outdir, { recursive: true, force: true });
  });

  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => console.error(output.explain('[worker test] failed')));
  });

  it('GET /health answers 200 with the s3 store', async () => {
    const res = await call('/health', { auth: false });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok', store: { kind: 's3', ok: true }, writable: true, database: { shards: 2, buckets: 8 } });
  });

  it('refuses a request without the API key', async () => {
    const res = await call(`/v1/accounts/${ACCOUNT}/usage?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z`, { auth: false });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthorized');
    expect((await call('/v1/usage/batch', { method: 'POST', body: { events: EVENTS }, auth: false })).status).toBe(401);
  });

  it('serves the embedded console without a key (no filesystem in workerd) and whoami with one', async () => {
    expect(await call('/console', { auth: false })).toEqual({ status: 200, body: CONSOLE_PAGE.body });
    for (const a of CONSOLE_ASSETS) expect(await call(`/console/assets/${a.name}`, { auth: false })).toEqual({ status: 200, body: a.body });
    expect((await call('/v1/whoami')).body).toEqual({ name: 'tester', scopes: ['ingest', 'read', 'admin'], open: false });
  });

  it('ingests a batch, then dedupes the same batch', async () => {
    const first = await call('/v1/usage/batch', { method: 'POST', body: { events: EVENTS } });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({ accepted: 3, duplicates: 0, conflicts: 0, rejected: 0, errors: [] });
    const again = await call('/v1/usage/batch', { method: 'POST', body: { events: EVENTS } });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body).toMatchObject({ accepted: 0, duplicates: 3, conflicts: 0, rejected: 0, errors: [] });
  });

  it('sums the usage exactly', async () => {
    const res = await call(`/v1/accounts/${ACCOUNT}/usage?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.lines).toHaveLength(1);
    expect(res.body.lines[0]).toMatchObject({ quantity: TOTAL, count: 3 });
  });

  it('closes the period with the same frozen total', async () => {
    const res = await call(`/v1/accounts/${ACCOUNT}/periods/2026-01/close`, { method: 'POST', body: { reason: 'worker test' } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ state: 'closed', frozen: { quantity: TOTAL, event_count: 3 } });
  });

  it('refuses to serve without API keys (a Worker is public), and its cron run fails', async () => {
    if (outdir === undefined) throw new Error(output.explain('no bundle'));
    const s3 = inject('s3');
    const open = await startWorkerd(
      join(outdir, 'worker.js'),
      outdir,
      {
        USAGEDB_S3_ENDPOINT: s3.endpoint,
        USAGEDB_S3_BUCKET: s3.bucket,
        USAGEDB_S3_ACCESS_KEY_ID: s3.accessKeyId,
        USAGEDB_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
        USAGEDB_PREFIX: uniquePrefix('worker-nokeys'),
      },
      output,
    );
    try {
      const res = await open.dispatchFetch('http://usagedb.test/health');
      expect(res.status).toBe(500);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('misconfigured');
      expect(body.error.message).toContain('USAGEDB_API_KEYS');
      const worker = await scheduledTarget(open);
      const result = await worker.scheduled({ cron: '0 * * * *', scheduledTime: new Date() });
      expect(result.outcome).not.toBe('ok');
    } finally {
      await open.dispose();
    }
  });

  it('runs the scheduled handler (an unlisted cron runs rollup, compact and gc)', async () => {
    if (mf === undefined) throw new Error(output.explain('workerd is not running'));
    const worker = await scheduledTarget(mf);
    const result = await worker.scheduled({ cron: '17 3 * * *', scheduledTime: new Date() });
    expect(result.outcome).toBe('ok');
    const ran = await output.waitForLines((l) => l.msg === 'job finished' && l.cron === '17 3 * * *', 3);
    expect(ran.map((l) => l.job)).toEqual(['rollup', 'compact', 'gc']);
    const minute = await worker.scheduled({ cron: '*/1 * * * *', scheduledTime: new Date() });
    expect(minute.outcome).toBe('ok');
    expect((await output.waitForLines((l) => l.msg === 'job finished' && l.cron === '*/1 * * * *', 1)).map((l) => l.job)).toEqual(['rollup']);
    expect(await output.waitForLines((l) => l.level === 'error' && l.cron !== undefined, 0)).toEqual([]);
  });
});
