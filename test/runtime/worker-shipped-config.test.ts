/**
 * The Worker as `wrangler.toml` ships it, with only what a user adds before `wrangler deploy`
 * (the USAGEDB_API_KEYS secret): its [vars], its R2 bucket binding and its shard sequencers, in
 * workerd (miniflare simulates the bucket and the Durable Objects). Ingest, a query and a cron
 * run answer exactly — no endpoint, S3 token or other variable is needed. Needs no MinIO.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Miniflare as MiniflareType } from 'miniflare';
import { bundleWorker, callWorker, RuntimeOutput, scheduledTarget, startWorkerd } from '../support/workerd.ts';
import { wireEvent } from '../support/wire-event.ts';

const ROOT = join(import.meta.dirname, '../..');
const output = new RuntimeOutput();
const SECRET = `shipped-${crypto.randomUUID()}`;

/** `name = "value"` lines of one `[table]` of a TOML file (comments and other tables skipped). */
function tableStrings(toml: string, header: string): Record<string, string> {
  const out: Record<string, string> = {};
  let inside = false;
  for (const line of toml.split('\n')) {
    const t = line.trim();
    if (t.startsWith('[')) inside = t === header;
    else if (inside) {
      const m = /^(\w+)\s*=\s*"([^"]*)"/.exec(t);
      if (m !== null) out[m[1]!] = m[2]!;
    }
  }
  return out;
}

describe('the Worker as wrangler.toml ships it', () => {
  let mf: MiniflareType | undefined;
  let outdir: string | undefined;
  let vars: Record<string, string> = {};

  beforeAll(async () => {
    const toml = await readFile(join(ROOT, 'wrangler.toml'), 'utf8');
    vars = tableStrings(toml, '[vars]');
    const bucket = tableStrings(toml, '[[r2_buckets]]');
    expect(bucket.binding).toBe('USAGEDB_R2');
    expect(tableStrings(toml, '[[durable_objects.bindings]]')).toMatchObject({ name: 'USAGEDB_SEQUENCER', class_name: 'ShardSequencer' });
    outdir = await mkdtemp(join(tmpdir(), 'usagedb-worker-shipped-'));
    const scriptPath = await bundleWorker(outdir, output);
    mf = await startWorkerd(scriptPath, outdir, { ...vars, USAGEDB_API_KEYS: `owner:${SECRET}:ingest+read+admin` }, output, {
      r2Buckets: { [bucket.binding!]: bucket.bucket_name! },
      sequencer: true,
    });
  }, 120_000);

  afterAll(async () => {
    await mf?.dispose();
    if (outdir !== undefined) await rm(outdir, { recursive: true, force: true });
  });

  it('uses the R2 binding and needs no S3 variable', () => {
    expect(vars.USAGEDB_STORE).toBe('r2');
    expect(Object.keys(vars).filter((k) => k.startsWith('USAGEDB_S3_'))).toEqual([]);
  });

  it('ingests, answers a query and runs its cron jobs exactly, with only USAGEDB_API_KEYS added', async () => {
    if (mf === undefined) throw new Error(output.explain('workerd is not running'));
    const at = Date.UTC(2026, 2, 3);
    const events = Array.from({ length: 50 }, (_, i) => wireEvent({ id: `shipped-${i}`, account: `acct-${i % 3}`, at: at + i * 1000, quantity: i + 1 }));
    const call = (path: string, init: { method?: string; body?: unknown } = {}) => callWorker(mf!, path, { ...init, secret: SECRET });
    const ingest = await call('/v1/usage/batch', { method: 'POST', body: { events } });
    expect(ingest.status, JSON.stringify(ingest.body)).toBe(200);
    expect(ingest.body).toMatchObject({ accepted: 50, duplicates: 0 });
    expect((await call('/v1/usage/batch', { method: 'POST', body: { events: events.slice(0, 5) } })).body).toMatchObject({ accepted: 0, duplicates: 5 });
    const job = await (await scheduledTarget(mf)).scheduled({ cron: '*/5 * * * *', scheduledTime: new Date() });
    expect(job.outcome).toBe('ok');
    const q = await call('/v1/accounts/acct-0/usage?from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z');
    expect(q.status).toBe(200);
    // acct-0 holds i = 0, 3, ..., 48: quantities 1, 4, ..., 49.
    const want = Array.from({ length: 17 }, (_, k) => 3 * k + 1).reduce((a, b) => a + b, 0);
    expect(q.body.lines[0]).toMatchObject({ quantity: String(want), count: 17 });
    expect(output.text).not.toMatch(/different request context|canceled/i);
  }, 120_000);
});
