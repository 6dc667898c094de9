/**
 * The embedded console: the committed `assets.generated.ts` is exactly what the build makes from
 * the sources (else: run `npm run build:console`), and the app serves it with the right content
 * types, caching headers (ETag + 304, immutable hashed assets) and a CSP, without a key.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONSOLE_ASSETS, CONSOLE_PAGE } from '../../src/console/assets.generated.ts';
import { GENERATED_PATH, renderConsoleModule } from '../../src/console/build.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance } from '../support/instance.ts';

describe('console assets', () => {
  it('the committed generated module matches the sources (run `npm run build:console` if not)', async () => {
    const fresh = await renderConsoleModule();
    const committed = readFileSync(GENERATED_PATH, 'utf8');
    expect(committed === fresh, 'src/console/assets.generated.ts is stale: run `npm run build:console` and commit it').toBe(true);
  }, 60_000);

  it('names the script and stylesheet by content hash and links them from the page', () => {
    expect(CONSOLE_ASSETS.map((a) => a.name.replace(/[0-9a-f]{12}/, 'H')).sort()).toEqual(['app.H.css', 'app.H.js']);
    for (const a of CONSOLE_ASSETS) expect(CONSOLE_PAGE.body).toContain(`"console/assets/${a.name}"`);
    // No inline script or style: the CSP allows only 'self'.
    expect(CONSOLE_PAGE.body).not.toMatch(/<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=/i);
  });

  it('serves the page and assets publicly with types, caching headers and a CSP', async () => {
    const inst = await openInstance(new MemoryStore(), 'db', { keys: 'ops:admin-secret-00003:admin' });
    const page = await inst.app.request('/console');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const etag = page.headers.get('etag')!;
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(await page.text()).toBe(CONSOLE_PAGE.body);
    const again = await inst.app.request('/console', { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');

    for (const a of CONSOLE_ASSETS) {
      const res = await inst.app.request(`/console/assets/${a.name}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(a.name.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8');
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(await res.text()).toBe(a.body);
      expect((await inst.app.request(`/console/assets/${a.name}`, { headers: { 'if-none-match': a.etag } })).status).toBe(304);
    }
    const stale = await inst.app.request('/console/assets/app.000000000000.js');
    expect(stale.status).toBe(404);
    expect(((await stale.json()) as { error: { code: string } }).error.code).toBe('not_found');
    expect((await inst.app.request('/console/assets/..%2Fsecret')).status).toBe(400);
  });
});
