/**
 * One workerd: the tests (miniflare, test/support/workerd.ts), `npm run dev:worker` and
 * `npm run build:worker` (wrangler) run the same runtime. wrangler brings its own miniflare and
 * workerd; when its pinned miniflare is not the tests' one, npm installs a second workerd (155 MB)
 * and local development runs another runtime than the tests. Checked on the lockfile (what
 * `npm ci` installs) and on node_modules (what is installed now).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MINIFLARE_VERSION, WRANGLER_VERSION } from '../support/workerd.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface LockEntry {
  readonly version?: string;
  readonly dependencies?: Record<string, string>;
}
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };

/** Versions of every copy of `name` the lockfile installs, by install path. */
function copies(name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === `node_modules/${name}` || path.endsWith(`/node_modules/${name}`)) out[path] = entry.version ?? '?';
  }
  return out;
}

function installedVersion(name: string, from: string): string {
  const req = createRequire(join(from, 'package.json'));
  return (JSON.parse(readFileSync(req.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
}

describe('one workerd for tests, dev:worker and build:worker', () => {
  it('package.json pins the wrangler and miniflare the Worker tests name', () => {
    expect(pkg.devDependencies.wrangler).toBe(WRANGLER_VERSION);
    expect(pkg.devDependencies.miniflare).toBe(MINIFLARE_VERSION);
  });

  it('the lockfile has one wrangler, one miniflare and one workerd, and wrangler depends on the tests’ miniflare', () => {
    expect(copies('wrangler')).toEqual({ 'node_modules/wrangler': WRANGLER_VERSION });
    expect(copies('miniflare')).toEqual({ 'node_modules/miniflare': MINIFLARE_VERSION });
    expect(lock.packages['node_modules/wrangler']?.dependencies?.miniflare).toBe(MINIFLARE_VERSION);
    const workerd = copies('workerd');
    expect(Object.keys(workerd)).toEqual(['node_modules/workerd']);
    // The platform binaries come in one version too (each is an optional dependency of workerd).
    const binaries = Object.entries(lock.packages).filter(([path]) => /node_modules\/@cloudflare\/workerd-[a-z0-9-]+$/.test(path));
    expect(new Set(binaries.map(([, e]) => e.version))).toEqual(new Set([workerd['node_modules/workerd']]));
  });

  it('wrangler, as installed, resolves the same miniflare and workerd as the tests do', () => {
    const wranglerDir = dirname(createRequire(join(ROOT, 'package.json')).resolve('wrangler/package.json'));
    expect(installedVersion('wrangler', ROOT)).toBe(WRANGLER_VERSION);
    expect(installedVersion('miniflare', wranglerDir)).toBe(MINIFLARE_VERSION);
    const miniflareDir = dirname(createRequire(join(ROOT, 'package.json')).resolve('miniflare/package.json'));
    expect(installedVersion('workerd', wranglerDir)).toBe(installedVersion('workerd', miniflareDir));
  });
});
