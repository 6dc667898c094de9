/**
 * The real Worker bundle (wrangler, the project's wrangler.toml) in workerd with USAGEDB_STORE=r2:
 * its state in miniflare's R2 simulation through the native binding USAGEDB_R2, no S3 anywhere.
 * Ingest, a retried batch answered as duplicates, an exact total beyond 2^53, a period close, a
 * cron run; a Worker configured for r2 without the binding; and the simulated per-key write limit
 * selected by configuration on the Worker. Needs no MinIO. Never skipped: if wrangler or workerd
 * cannot run, the tests fail with their output.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Miniflare as MiniflareType } from 'miniflare';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bundleWorker, callWorker, RuntimeOutput, scheduledTarget, startWorkerd } from '../support/workerd.ts';
import { wireEvent } from '../support/wire-event.ts';

const output = new RuntimeOutput();
const SECRET = `worker-r2-${crypto.randomUUID()}`;
const ACCOUNT = `acct-r2-${Date.now().toString(36)}`;
const JAN = Date.UTC(2026, 0, 10);

const event = (i: number, quantity: number | string, account = ACCOUNT) => wireEvent({ id: `${account}-evt-${i}`, account, at: JAN + i * 60_000, quantity });

// One of them beyond 2^53, sent as a decimal string: the sum must come back exact.
const EVENTS = [event(1, 1200), event(2, '9007199254740993'), event(3, 35)];
const TOTAL = (1200n + 9007199254740993n + 35n).toString();
const JANUARY = 'from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z';

describe('Worker (workerd) on the R2 binding (USAGEDB_STORE=r2)', () => {
  let mf: MiniflareType | undefined;
  let outdir: string | undefined;
  let script: string | undefined;

  const call = async (path: string, init: { method?: string; body?: unknown } = {}) => {
    if (mf === undefined) throw new Error(output.explain('workerd is not running'));
    return callWorker(mf, path, { ...init, secret: SECRET });
  };

  beforeAll(async () => {
    outdir = await mkdtemp(join(tmpdir(), 'usagedb-worker-r2-'));
    script = await bundleWorker(outdir, output);
    mf = await startWorkerd(
      script,
      outdir,
      { USAGEDB_STORE: 'r2', USAGEDB_PREFIX: 'worker-r2', USAGEDB_SHARDS: '2', USAGEDB_BUCKETS: '8', USAGEDB_API_KEYS: `tester:${SECRET}:admin` },
      output,
      { r2Buckets: { USAGEDB_R2: 'usagedb' } },
    );
  }, 120_000);

  afterAll(async () => {
    await mf?.dispose();
    if (outdir !== undefined) await rm(outdir, { recursive: true, force: true });
  });

  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => console.error(output.explain('[worker r2 test] failed')));
  });

  it('GET /health answers 200 with the r2 store, writable (the startup probe passed on the binding)', async () => {
    const res = await call('/health');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok', store: { kind: 'r2', ok: true }, writable: true, database: { shards: 2, buckets: 8 } });
    const started = await output.waitForLines((l) => l.msg === 'usageDb worker started', 1);
    expect(started[0]).toMatchObject({ store: 'r2' });
  });

  it('ingests a batch, then answers the retried batch as duplicates', async () => {
    const first = await call('/v1/usage/batch', { method: 'POST', body: { events: EVENTS } });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({ accepted: 3, duplicates: 0, conflicts: 0, rejected: 0, errors: [] });
    const again = await call('/v1/usage/batch', { method: 'POST', body: { events: EVENTS } });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body).toMatchObject({ accepted: 0, duplicates: 3, conflicts: 0, rejected: 0, errors: [] });
  });

  it('sums the usage exactly', async () => {
    const res = await call(`/v1/accounts/${ACCOUNT}/usage?${JANUARY}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.lines).toEqual([expect.objectContaining({ quantity: TOTAL, count: 3 })]);
  });

  it('closes the period with the same frozen total, and the close is read back', async () => {
    const res = await call(`/v1/accounts/${ACCOUNT}/periods/2026-01/close`, { method: 'POST', body: { reason: 'r2 worker test' } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ state: 'closed', frozen: { quantity: TOTAL, event_count: 3 } });
    const read = await call(`/v1/accounts/${ACCOUNT}/periods/2026-01`);
    expect(read.status, JSON.stringify(read.body)).toBe(200);
    expect(read.body).toMatchObject({ state: 'closed', frozen: { quantity: TOTAL, event_count: 3 } });
    const late = await call('/v1/usage/batch', { method: 'POST', body: { events: [event(4, 5)] } });
    expect(late.body).toMatchObject({ accepted: 0, rejected: 1 });
  });

  it('runs the scheduled jobs on the binding', async () => {
    if (mf === undefined) throw new Error(output.explain('workerd is not running'));
    const result = await (await scheduledTarget(mf)).scheduled({ cron: '17 3 * * *', scheduledTime: new Date() });
    expect(result.outcome).toBe('ok');
    const ran = await output.waitForLines((l) => l.msg === 'job finished' && l.cron === '17 3 * * *', 3);
    expect(ran.map((l) => l.job)).toEqual(['rollup', 'compact', 'gc']);
  });

  it('r2 without the USAGEDB_R2 binding is misconfigured, and the answer says what to add', async () => {
    if (outdir === undefined || script === undefined) throw new Error(output.explain('no bundle'));
    const unbound = await startWorkerd(script, outdir, { USAGEDB_STORE: 'r2', USAGEDB_API_KEYS: `tester:${SECRET}:admin` }, output, {
      r2Buckets: { OTHER_NAME: 'usagedb' },
    });
    try {
      const res = await unbound.dispatchFetch('http://usagedb.test/health');
      expect(res.status).toBe(500);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('misconfigured');
      expect(body.error.message).toMatch(/^configuration: USAGEDB_STORE: r2 needs the R2 bucket binding USAGEDB_R2/);
      expect(body.error.message).toContain('[[r2_buckets]]');
    } finally {
      await unbound.dispose();
    }
  });

  it('USAGEDB_SIMULATE_KEY_WRITE_INTERVAL_MS on the Worker: commits to one shard wait out the limit, every request answers 200', async () => {
    if (outdir === undefined || script === undefined) throw new Error(output.explain('no bundle'));
    const limited = await startWorkerd(
      script,
      outdir,
      {
        USAGEDB_STORE: 'r2',
        USAGEDB_PREFIX: 'worker-r2-limited',
        USAGEDB_SHARDS: '1',
        USAGEDB_BUCKETS: '1',
        USAGEDB_API_KEYS: `tester:${SECRET}:admin`,
        USAGEDB_SIMULATE_KEY_WRITE_INTERVAL_MS: '1000',
      },
      output,
      { r2Buckets: { USAGEDB_R2: 'usagedb' } },
    );
    try {
      const account = `${ACCOUNT}-limited`;
      const started = Date.now();
      for (let i = 1; i <= 3; i++) {
        const res = await callWorker(limited, '/v1/usage/batch', { method: 'POST', body: { events: [event(i, i * 10, account)] }, secret: SECRET });
        expect(res.status, output.explain(JSON.stringify(res.body))).toBe(200);
        expect(res.body).toMatchObject({ accepted: 1 });
      }
      // Bootstrap (generation 1) and three commits of one manifest key, one second apart at least.
      expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
      const total = await callWorker(limited, `/v1/accounts/${account}/usage?${JANUARY}`, { secret: SECRET });
      expect(total.body.lines).toEqual([expect.objectContaining({ quantity: '60', count: 3 })]);
      const metrics = await (await limited.dispatchFetch('http://usagedb.test/metrics', { headers: { authorization: `Bearer ${SECRET}` } })).text();
      const ambiguous = /usagedb_manifest_ambiguous_writes_total\{shard="0"\} (\d+)/.exec(metrics);
      expect(Number(ambiguous?.[1] ?? 0), metrics).toBeGreaterThan(0);
      const warned = await output.waitForLines((l) => typeof l.msg === 'string' && l.msg.startsWith('simulating R2 per-key write limit'), 1);
      expect(warned[0]).toMatchObject({ level: 'warn', interval_ms: 1000 });
    } finally {
      await limited.dispose();
    }
  }, 60_000);
  it('with the shard sequencers on the binding and the simulated limit: 16 concurrent ingests all answer 200, every event once, exact total', async () => {
    if (outdir === undefined || script === undefined) throw new Error(output.explain('no bundle'));
    const sequenced = await startWorkerd(
      script,
      outdir,
      {
        USAGEDB_STORE: 'r2',
        USAGEDB_PREFIX: 'worker-r2-sequenced',
        USAGEDB_SHARDS: '2',
        USAGEDB_BUCKETS: '8',
        USAGEDB_API_KEYS: `tester:${SECRET}:admin`,
        USAGEDB_SIMULATE_KEY_WRITE_INTERVAL_MS: '1000',
      },
      output,
      { r2Buckets: { USAGEDB_R2: 'usagedb' }, sequencer: true },
    );
    try {
      const account = (r: number) => `${ACCOUNT}-seq-${r % 5}`;
      const answers = await Promise.all(
        Array.from({ length: 16 }, (_, r) =>
          callWorker(sequenced, '/v1/usage/batch', {
            method: 'POST',
            body: { events: Array.from({ length: 10 }, (_, i) => event(r * 10 + i, r + 1, account(r))) },
            secret: SECRET,
          }),
        ),
      );
      for (const a of answers) {
        expect(a.status, output.explain(JSON.stringify(a.body))).toBe(200);
        expect(a.body).toMatchObject({ accepted: 10, duplicates: 0, conflicts: 0, rejected: 0 });
      }
      for (let k = 0; k < 5; k++) {
        const requests = Array.from({ length: 16 }, (_, r) => r).filter((r) => r % 5 === k);
        const want = requests.reduce((sum, r) => sum + 10 * (r + 1), 0);
        const total = await callWorker(sequenced, `/v1/accounts/${account(k)}/usage?${JANUARY}`, { secret: SECRET });
        expect(total.status, JSON.stringify(total.body)).toBe(200);
        expect(total.body.lines).toEqual([expect.objectContaining({ quantity: String(want), count: requests.length * 10 })]);
      }
    } finally {
      await sequenced.dispose();
    }
  }, 90_000);
});
