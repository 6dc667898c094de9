/**
 * The console's JSON routes through the app: /v1/whoami for every kind of key (and an open
 * server), /v1/admin/status against the manifests and /metrics, and the event-rows lookup that
 * shows both payloads of a conflict.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { runJob } from '../../src/jobs/run.ts';
import { parsePrometheus } from '../../src/api/console/prom.ts';
import type { AdminStatus, EventRows } from '../../src/api/console/schemas.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance, type Instance } from '../support/instance.ts';

const SECRETS = { ingest: 'ingest-secret-0001', read: 'read-secret-000002', admin: 'admin-secret-00003' };
const KEYS = `writer:${SECRETS.ingest}:ingest,reader:${SECRETS.read}:read+ingest,ops:${SECRETS.admin}:admin`;
const auth = (secret: string) => ({ headers: { authorization: `Bearer ${secret}` } });

let inst: Instance;
beforeAll(async () => {
  inst = await openInstance(new MemoryStore(), 'db', { keys: KEYS, ingest: { dedupeWindowMs: 60_000 } });
});

describe('GET /v1/whoami', () => {
  it('names the key and its effective scopes (admin implies all)', async () => {
    const cases: [string, unknown][] = [
      [SECRETS.ingest, { name: 'writer', scopes: ['ingest'], open: false }],
      [SECRETS.read, { name: 'reader', scopes: ['ingest', 'read'], open: false }],
      [SECRETS.admin, { name: 'ops', scopes: ['ingest', 'read', 'admin'], open: false }],
    ];
    for (const [secret, body] of cases) {
      const res = await inst.app.request('/v1/whoami', auth(secret));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual(body);
    }
  });

  it('is a 401 without a key or with an unknown one, and never echoes it', async () => {
    expect((await inst.app.request('/v1/whoami')).status).toBe(401);
    const res = await inst.app.request('/v1/whoami', auth('nobody-knows-this-key'));
    expect(res.status).toBe(401);
    expect(await res.text()).not.toContain('nobody-knows-this-key');
  });

  it('answers anonymous with every scope on an open server', async () => {
    const open = await openInstance(new MemoryStore(), 'db');
    expect(await (await open.app.request('/v1/whoami')).json()).toEqual({ name: 'anonymous', scopes: ['ingest', 'read', 'admin'], open: true });
  });
});

const ts = Date.UTC(2026, 2, 3, 9);
const ev = (id: string, account: string, q: number, model = 'model-a') => ({
  event_id: id,
  account_id: account,
  product_id: 'p',
  meter_id: 'm',
  model_id: model,
  source: 'api',
  unit: 'u',
  timestamp_ms: ts,
  quantity: q,
});

describe('GET /v1/admin/status', () => {
  it('needs admin and reports what the manifests and /metrics say', async () => {
    expect((await inst.app.request('/v1/admin/status', auth(SECRETS.read))).status).toBe(403);
    const ingest = await inst.app.request('/v1/usage/batch', {
      method: 'POST',
      headers: { authorization: `Bearer ${SECRETS.ingest}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events: Array.from({ length: 40 }, (_, i) => ev(`s-${i}`, `acct-${i % 9}`, i + 1)) }),
    });
    expect(((await ingest.json()) as { accepted: number }).accepted).toBe(40);
    await inst.app.request('/v1/admin/jobs/compact', { method: 'POST', ...auth(SECRETS.admin) });

    const res = await inst.app.request('/v1/admin/status', auth(SECRETS.admin));
    expect(res.status).toBe(200);
    const s = (await res.json()) as AdminStatus;
    const snaps = await Promise.all(inst.db.shards.map((x) => x.revalidate()));
    expect(s.database).toEqual({ db_id: inst.db.info.db_id, shards: 4, buckets: 16, store: 'memory' });
    expect(s.shards.map((x) => ('generation' in x ? x.generation : -1))).toEqual(snaps.map((x) => x.manifest.generation));
    expect(s.totals.raw_rows).toBe(40);
    expect(s.totals.raw_segments).toBe(snaps.reduce((n, x) => n + x.manifest.segments.length, 0));
    expect(s.totals.uncompacted_segments).toBe(0);
    expect(s.totals.manifest_bytes).toBe(snaps.reduce((n, x) => n + new TextEncoder().encode(JSON.stringify(x.manifest)).length, 0));
    expect(s.totals.last_compaction_at).not.toBeNull();
    expect(s.jobs).toEqual([{ job: 'compact', outcome: 'ok', runs: 1, last_run_at: expect.stringMatching(/^\d{4}-/) }]);
    expect(s.requests).toContainEqual({ method: 'POST', route: '/v1/usage/batch', status: 200, count: 1 });
    // The same counters as /metrics.
    const metrics = parsePrometheus(await (await inst.app.request('/metrics', auth(SECRETS.admin))).text());
    const commits = metrics.filter((m) => m.name === 'usagedb_manifest_commits_total').reduce((n, m) => n + m.value, 0);
    expect(s.totals.commits).toBe(commits);
    expect(metrics.find((m) => m.name === 'usagedb_job_last_run_timestamp_seconds')?.labels).toEqual({ job: 'compact', outcome: 'ok' });
  });
});

describe('GET /v1/accounts/{a}/usage/events/{event_id}', () => {
  it('shows both stored payloads of a conflict compaction found', async () => {
    const post = (events: unknown[]) =>
      inst.app.request('/v1/usage/batch', {
        method: 'POST',
        headers: { authorization: `Bearer ${SECRETS.ingest}`, 'content-type': 'application/json' },
        body: JSON.stringify({ events }),
      });
    await post([ev('clash', 'acme', 1)]);
    await runJob(inst.db, 'compact');
    inst.clock.advance(120_000);
    await post([ev('clash', 'acme', 2, 'model-b')]);
    await runJob(inst.db, 'compact');
    const conflicts = (await (await inst.app.request('/v1/admin/conflicts', auth(SECRETS.admin))).json()) as { conflicts: { event_id: string }[] };
    expect(conflicts.conflicts.map((c) => c.event_id)).toContain('clash');

    const res = await inst.app.request('/v1/accounts/acme/usage/events/clash', auth(SECRETS.read));
    expect(res.status).toBe(200);
    const body = (await res.json()) as EventRows;
    expect(body.rows.map((r) => [r.quantity, r.model_id])).toEqual([
      ['1', 'model-a'],
      ['2', 'model-b'],
    ]);
    expect((await inst.app.request('/v1/accounts/acme/usage/events/nope', auth(SECRETS.read))).status).toBe(404);
    expect((await inst.app.request('/v1/accounts/other/usage/events/clash', auth(SECRETS.read))).status).toBe(404);
    expect((await inst.app.request('/v1/accounts/acme/usage/events/clash', auth(SECRETS.ingest))).status).toBe(403);
  });
});
