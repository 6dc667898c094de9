import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance } from '../support/instance.ts';

describe('CORS', () => {
  it('answers preflights for configured origins only, and exposes the request id', async () => {
    const base = await openInstance(new MemoryStore(), 'db');
    const app = createApp({ db: base.db, ingestor: base.ingestor, engine: base.engine, periods: base.periods, corsOrigins: ['https://dash.example.com'] });
    const pre = await app.request('/v1/usage/batch', {
      method: 'OPTIONS',
      headers: { origin: 'https://dash.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://dash.example.com');
    expect(pre.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    const other = await app.request('/health', { headers: { origin: 'https://evil.example.com' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const ok = await app.request('/health', { headers: { origin: 'https://dash.example.com' } });
    expect(ok.headers.get('access-control-expose-headers')).toContain('X-Request-Id');
    // Without configured origins no CORS headers at all.
    const none = await base.app.request('/health', { headers: { origin: 'https://dash.example.com' } });
    expect(none.headers.get('access-control-allow-origin')).toBeNull();
  });
});
