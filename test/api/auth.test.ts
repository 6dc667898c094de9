/**
 * The auth matrix: every route with no key, an unknown key, a key without the scope, and a key
 * with it. Public routes answer without a key. Secrets never appear in responses.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { identify, parseApiKeys, scopeFor } from '../../src/api/auth.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance, usage, type Instance } from '../support/instance.ts';

const SECRETS = { ingest: 'ingest-secret-0001', read: 'read-secret-000002', admin: 'admin-secret-00003' };
const KEYS = `writer:${SECRETS.ingest}:ingest,reader:${SECRETS.read}:read,ops:${SECRETS.admin}:admin`;

let inst: Instance;
beforeAll(async () => {
  inst = await openInstance(new MemoryStore(), 'db', { keys: KEYS });
});

const range = 'from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z';
type Route = [method: 'GET' | 'POST', path: string, body: unknown, scope: 'ingest' | 'read' | 'admin'];
const ROUTES: Route[] = [
  ['POST', '/v1/usage/batch', { events: [usage(1)] }, 'ingest'],
  ['GET', `/v1/accounts/acct-1/usage?${range}`, undefined, 'read'],
  ['GET', `/v1/accounts/acct-1/usage/events?${range}`, undefined, 'read'],
  ['GET', `/v1/accounts/acct-1/explain?${range}`, undefined, 'read'],
  ['POST', '/v1/query/json', { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' }, 'read'],
  ['POST', '/v1/query/sql', { sql: 'SELECT SUM(quantity) FROM usage_events WHERE timestamp_ms >= 1 AND timestamp_ms < 2' }, 'read'],
  ['GET', '/v1/accounts/acct-1/periods/2026-01', undefined, 'read'],
  ['GET', '/v1/accounts/acct-1/periods', undefined, 'read'],
  ['POST', '/v1/accounts/acct-1/periods/2026-01/close', { reason: 'test' }, 'admin'],
  ['POST', '/v1/accounts/acct-1/periods/2026-01/reopen', { reason: 'test' }, 'admin'],
  ['GET', '/metrics', undefined, 'admin'],
  ['GET', '/v1/admin/status', undefined, 'admin'],
];

async function call(method: string, path: string, body: unknown, secret?: string) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (secret !== undefined) headers.authorization = `Bearer ${secret}`;
  const res = await inst.app.request(path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  for (const s of Object.values(SECRETS)) expect(text).not.toContain(s);
  return { status: res.status, text };
}

describe('auth matrix', () => {
  for (const [method, path, body, scope] of ROUTES) {
    it(`${method} ${path.split('?')[0]} needs ${scope}`, async () => {
      expect((await call(method, path, body)).status).toBe(401);
      expect((await call(method, path, body, 'not-a-real-key-at-all')).status).toBe(401);
      const wrong = Object.entries(SECRETS).find(([s]) => s !== scope && s !== 'admin')![1];
      const denied = await call(method, path, body, wrong);
      expect(denied.status).toBe(403);
      expect(JSON.parse(denied.text).error.code).toBe('forbidden');
      const ok = await call(method, path, body, SECRETS[scope]);
      expect(ok.status, ok.text).toBe(200);
      if (scope !== 'admin') expect((await call(method, path, body, SECRETS.admin)).status).toBe(200);
      expect(scopeFor(method, path.split('?')[0]!)).toBe(scope);
    });
  }

  it('public routes answer without a key', async () => {
    expect((await call('GET', '/health', undefined)).status).toBe(200);
  });

  it('401 answers carry the error shape and never echo the presented secret', async () => {
    const r = await call('GET', `/v1/accounts/a/usage?${range}`, undefined, 'some-secret-value-xyz');
    expect(JSON.parse(r.text)).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
    expect(r.text).not.toContain('some-secret-value-xyz');
  });

  it('the actor of a period close is the key name', async () => {
    await call('POST', '/v1/accounts/acct-9/periods/2026-02/close', { reason: 'eom' }, SECRETS.admin);
    const r = JSON.parse((await call('GET', '/v1/accounts/acct-9/periods/2026-02', undefined, SECRETS.read)).text);
    expect(r.history).toEqual([expect.objectContaining({ action: 'close', actor: 'ops', reason: 'eom' })]);
  });
});

describe('a key that was accepted once (remembered)', () => {
  it("lets through only that exact secret: near misses stay 401, scopes stay the key's own", async () => {
    const keys = await parseApiKeys(KEYS);
    expect((await identify(keys, `Bearer ${SECRETS.read}`)).name).toBe('reader');
    expect((await identify(keys, `Bearer ${SECRETS.read}`)).name).toBe('reader');
    for (const guess of [SECRETS.read.slice(0, -1), `${SECRETS.read}x`, SECRETS.read.toUpperCase(), `${SECRETS.read.slice(0, -1)}3`]) {
      await expect(identify(keys, `Bearer ${guess}`)).rejects.toMatchObject({ code: 'unauthorized' });
    }
    // Another key list (another app) does not know what this one accepted.
    const others = await parseApiKeys(`reader2:${SECRETS.admin}:read`);
    await expect(identify(others, `Bearer ${SECRETS.read}`)).rejects.toMatchObject({ code: 'unauthorized' });
    const res = await inst.app.request('/v1/accounts/acct-1/periods/2026-01/close', {
      method: 'POST',
      headers: { authorization: `Bearer ${SECRETS.read}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'test' }),
    });
    expect(res.status).toBe(403);
  });
});

describe('USAGEDB_API_KEYS parsing', () => {
  it('accepts hashed secrets', async () => {
    const hex = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode('hashed-secret-123456'))), (b) =>
      b.toString(16).padStart(2, '0'),
    ).join('');
    const keys = await parseApiKeys(`svc:sha256=${hex}:read+ingest`);
    expect(keys[0]!.name).toBe('svc');
    const i = await openInstance(new MemoryStore(), 'db', { keys: `svc:sha256=${hex}:read+ingest` });
    const res = await i.app.request(`/v1/accounts/a/usage?${range}`, { headers: { authorization: 'Bearer hashed-secret-123456' } });
    expect(res.status).toBe(200);
  });

  for (const [bad, needle] of [
    ['justaname', 'entry 1'],
    ['a:short:read', 'at least 16'],
    ['a:long-enough-secret-1:root', 'unknown scope'],
    ['bad name:long-enough-secret-1:read', 'name'],
    ['a:long-enough-secret-1:read,a:long-enough-secret-2:read', 'twice'],
  ] as const) {
    it(`refuses ${JSON.stringify(bad.replace(/secret-\d/g, '…'))} naming the variable, never the secret`, async () => {
      const err = (await parseApiKeys(bad).catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(Error);
      expect(err.message.startsWith('USAGEDB_API_KEYS')).toBe(true);
      expect(err.message).toContain(needle);
      expect(err.message).not.toContain('long-enough-secret');
    });
  }
});
