/**
 * The Worker with its shard sequencers (one Durable Object per shard, issue 14) in workerd on
 * MinIO: isolates validate and hash, each shard's object writes and commits for all of them at
 * its pace. Users rely on: every request answered with exact per-event outcomes, exact totals,
 * far fewer manifest commits than requests; jobs' edits through the same objects; and, with two
 * object instances for one shard (two workerd processes on one bucket, as after a restart or a
 * split) or a crash in the middle of commits, nothing lost or counted twice once clients retry.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Miniflare as MiniflareType } from 'miniflare';
import { Database } from '../../src/manifest/database.ts';
import { systemDeps } from '../../src/runtime/system.ts';
import { s3Env, testS3Store, uniquePrefix } from '../support/s3.ts';
import { bundleWorker, callWorker, RuntimeOutput, scheduledTarget, startWorkerd } from '../support/workerd.ts';
import { type WireEvent, wireEvent } from '../support/wire-event.ts';

const output = new RuntimeOutput();
const SECRET = `worker-seq-${crypto.randomUUID()}`;
const RUN = Date.now().toString(36);
const PER_REQUEST = 100;
const ACCOUNTS = 40;
const SHARDS = 4;
const MARCH = Date.UTC(2026, 2, 1);
const RANGE = 'from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z';

function event(tag: string, n: number): WireEvent & { quantity: number } {
  const quantity = 1 + (n % 997);
  return {
    ...wireEvent({ id: `${tag}-${RUN}-${n}`, account: `acct-${tag}-${RUN}-${n % ACCOUNTS}`, at: MARCH + n * 61_000, quantity, varied: { n, models: 5 } }),
    quantity,
  };
}

/** Request r of `count`: 90 events of its own and the first 10 of request r-1 (duplicates racing). */
function batch(tag: string, r: number, count: number): Record<string, unknown>[] {
  const own = Array.from({ length: PER_REQUEST - 10 }, (_, i) => event(tag, r * PER_REQUEST + i));
  const prev = (r + count - 1) % count;
  return [...own, ...Array.from({ length: 10 }, (_, i) => event(tag, prev * PER_REQUEST + i))];
}

/** Each account's total of the distinct events of requests 0..count-1. */
function truthOf(tag: string, count: number): Map<string, bigint> {
  const truth = new Map<string, bigint>();
  for (let r = 0; r < count; r++) {
    for (let i = 0; i < PER_REQUEST - 10; i++) {
      const e = event(tag, r * PER_REQUEST + i);
      truth.set(e.account_id, (truth.get(e.account_id) ?? 0n) + BigInt(e.quantity));
    }
  }
  return truth;
}

type Call = (path: string, init?: { method?: string; body?: unknown }) => Promise<{ status: number; body: any }>;

function caller(mf: MiniflareType): Call {
  return (path, init = {}) => callWorker(mf, path, { ...init, secret: SECRET });
}

async function expectTotals(call: Call, truth: Map<string, bigint>): Promise<void> {
  const answers = await Promise.all([...truth.keys()].map((account) => call(`/v1/accounts/${account}/usage?${RANGE}`)));
  for (const [i, [account, total]] of [...truth].entries()) {
    const res = answers[i]!;
    expect(res.status, output.explain(JSON.stringify(res.body))).toBe(200);
    expect(
      res.body.lines.reduce((s: bigint, l: { quantity: string }) => s + BigInt(l.quantity), 0n),
      account,
    ).toBe(total);
  }
}

/** Posts until answered 200 (a crash or a 503 is retried, as a client does); the 200 answer. */
async function postUntilAnswered(call: Call, events: Record<string, unknown>[]): Promise<{ status: number; body: any }> {
  for (let attempt = 0; ; attempt++) {
    const res = await call('/v1/usage/batch', { method: 'POST', body: { events } }).catch((err: Error) => ({ status: 0, body: err.message }));
    if (res.status === 200 || attempt >= 20) return res;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('Worker with shard sequencers (Durable Objects) in workerd', () => {
  const running: MiniflareType[] = [];
  let outdir: string | undefined;
  let scriptPath = '';
  const prefix = uniquePrefix('worker-seq');

  async function start(): Promise<MiniflareType> {
    const mf = await startWorkerd(
      scriptPath,
      outdir!,
      {
        ...s3Env(prefix),
        USAGEDB_SHARDS: String(SHARDS),
        USAGEDB_BUCKETS: '16',
        USAGEDB_API_KEYS: `tester:${SECRET}:admin`,
        USAGEDB_SEQUENCER_INTERVAL_MS: '250',
      },
      output,
      { sequencer: true },
    );
    running.push(mf);
    return mf;
  }

  async function generations(): Promise<number[]> {
    const db = await Database.open({ store: testS3Store(), prefix, deps: systemDeps(), create: { shardCount: SHARDS, bucketCount: 16 } });
    return Promise.all(db.shards.map(async (s) => (await s.revalidate()).manifest.generation));
  }

  beforeAll(async () => {
    outdir = await mkdtemp(join(tmpdir(), 'usagedb-worker-seq-'));
    scriptPath = await bundleWorker(outdir, output);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(running.map((mf) => mf.dispose().catch(() => undefined)));
    if (outdir !== undefined) await rm(outdir, { recursive: true, force: true });
  });

  it('32 concurrent ingests: exact outcomes and totals, a few commits per shard, a cron run through the same objects', async () => {
    const mf = await start();
    const call = caller(mf);
    const REQUESTS = 32;
    const before = await generations().catch(() => new Array<number>(SHARDS).fill(0));
    const answers = await Promise.all(
      Array.from({ length: REQUESTS }, (_, r) => call('/v1/usage/batch', { method: 'POST', body: { events: batch('a', r, REQUESTS) } })),
    );
    const failed = answers.filter((a) => a.status !== 200);
    expect(
      failed.map((a) => JSON.stringify(a.body).slice(0, 300)),
      output.explain(`${failed.length} of ${REQUESTS} ingests failed`),
    ).toEqual([]);
    let accepted = 0;
    for (const a of answers) {
      expect(a.body).toMatchObject({ conflicts: 0, rejected: 0 });
      expect(a.body.accepted + a.body.duplicates).toBe(PER_REQUEST);
      accepted += a.body.accepted;
    }
    // Every distinct event accepted exactly once across all requests.
    expect(accepted).toBe(REQUESTS * (PER_REQUEST - 10));
    await expectTotals(call, truthOf('a', REQUESTS));

    // Each of the 32 requests touched every shard; the objects committed them in a few batches.
    const after = await generations();
    for (const [s, g] of after.entries())
      expect(g - (before[s] ?? 0), `shard ${s}: ${g - (before[s] ?? 0)} commits for ${REQUESTS} requests`).toBeLessThanOrEqual(16);

    // Rollup and compaction commit their edits through the sequencers; totals stay exact.
    const target = await scheduledTarget(mf);
    for (const cron of ['*/1 * * * *', '*/5 * * * *']) {
      const job = await target.scheduled({ cron, scheduledTime: new Date() });
      expect(job.outcome, output.explain(`scheduled ${cron} failed`)).toBe('ok');
    }
    await expectTotals(call, truthOf('a', REQUESTS));
    await new Promise((r) => setTimeout(r, 500));
    expect(output.text.includes('different request context'), output.explain('workerd warned about cross-request promises')).toBe(false);
    expect(output.text.includes('canceled this request'), output.explain('workerd canceled a request')).toBe(false);
  }, 180_000);

  it('two object instances for one shard (two workerd processes on one bucket) race: each event accepted once', async () => {
    const a = running[0] ?? (await start());
    const b = await start();
    const REQUESTS = 16;
    // The same 16 requests to both processes at once: every event sent twice, to two objects.
    const answers = await Promise.all(
      Array.from({ length: REQUESTS }, (_, r) => [
        postUntilAnswered(caller(a), batch('b', r, REQUESTS)),
        postUntilAnswered(caller(b), batch('b', r, REQUESTS)),
      ]).flat(),
    );
    const failed = answers.filter((x) => x.status !== 200);
    expect(
      failed.map((x) => JSON.stringify(x.body).slice(0, 300)),
      output.explain('ingests failed'),
    ).toEqual([]);
    expect(answers.reduce((s, x) => s + x.body.accepted, 0)).toBe(REQUESTS * (PER_REQUEST - 10));
    await expectTotals(caller(a), truthOf('b', REQUESTS));
    await expectTotals(caller(b), truthOf('b', REQUESTS));
  }, 180_000);

  it('a process crashing in the middle of commits loses nothing: clients retry on a restarted one, totals exact', async () => {
    const doomed = await start();
    const REQUESTS = 16;
    // Requests 100 ms apart; the process dies as soon as the first is answered, so some were
    // committed and answered, some committed but not answered, some never reached an object.
    let answered!: () => void;
    const firstAnswer = new Promise<void>((r) => (answered = r));
    const inflight = Array.from({ length: REQUESTS }, async (_, r) => {
      await new Promise((res) => setTimeout(res, r * 100));
      const res = await caller(doomed)('/v1/usage/batch', { method: 'POST', body: { events: batch('c', r, REQUESTS) } }).catch((err: Error) => ({
        status: 0,
        body: err.message,
      }));
      if (res.status === 200) answered();
      return res;
    });
    await firstAnswer;
    running.splice(running.indexOf(doomed), 1);
    await doomed.dispose();
    const first = await Promise.all(inflight);
    expect(first.some((res) => res.status === 200)).toBe(true);
    expect(first.some((res) => res.status !== 200)).toBe(true);
    const restarted = await start();
    // Every request whose answer was lost or not 200 is sent again; answered ones were committed.
    const retried = await Promise.all(first.map((res, r) => (res.status === 200 ? res : postUntilAnswered(caller(restarted), batch('c', r, REQUESTS)))));
    expect(retried.filter((x) => x.status !== 200).map((x) => JSON.stringify(x.body).slice(0, 300))).toEqual([]);
    // A retry may find its events committed before the crash (duplicates), never counted twice.
    expect(retried.reduce((s, x) => s + x.body.accepted, 0)).toBeLessThanOrEqual(REQUESTS * (PER_REQUEST - 10));
    await expectTotals(caller(restarted), truthOf('c', REQUESTS));
  }, 180_000);
});
