/**
 * Every answer carries the request's id (X-Request-Id): the one the client sent when it looks
 * like one, else a generated one — answers made by routes, by errors, by the body limit, by
 * routes that return a ready Response (console assets) alike.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance, usage, type Instance } from '../support/instance.ts';

const SECRET = 'request-id-secret-01';
let inst: Instance;
beforeAll(async () => {
  inst = await openInstance(new MemoryStore(), 'db', { keys: `ops:${SECRET}:admin` });
});

const auth = { authorization: `Bearer ${SECRET}` };

describe('X-Request-Id on every answer', () => {
  const cases: [string, string, RequestInit, number][] = [
    [
      'ingest accepted',
      '/v1/usage/batch',
      { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ events: [usage(1)] }) },
      200,
    ],
    ['ingest refused (400)', '/v1/usage/batch', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"events": 5}' }, 400],
    ['no key (401)', '/v1/usage/batch', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }, 401],
    [
      'too large by Content-Length (413)',
      '/v1/query/json',
      { method: 'POST', headers: { ...auth, 'content-type': 'application/json', 'content-length': String(10 << 20) }, body: 'x' },
      413,
    ],
    ['unknown route (404)', '/v1/nowhere', { headers: auth }, 404],
    ['health', '/health', {}, 200],
    ['metrics (text)', '/metrics', { headers: auth }, 200],
    ['console page', '/console', {}, 200],
  ];
  for (const [name, path, init, status] of cases) {
    it(`${name}: the client's id comes back; without one a generated id`, async () => {
      const sent = await inst.app.request(path, { ...init, headers: { ...(init.headers as Record<string, string>), 'x-request-id': `rid-${status}-x` } });
      expect(sent.status).toBe(status);
      expect(sent.headers.get('x-request-id')).toBe(`rid-${status}-x`);
      const generated = await inst.app.request(path, init);
      expect(generated.status).toBe(status);
      expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    });
  }
});
