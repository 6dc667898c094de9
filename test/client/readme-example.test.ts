/**
 * The README's client example, as written: the `js` block under "## Client" is saved to a temp
 * project that has this package installed (a node_modules/usagedb symlink, so `usagedb/client`
 * resolves through package.json `exports`), run with Node against a real HTTP server, and its
 * output compared with the `// → ...` comments.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance } from '../support/instance.ts';
import { listen } from './listen.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

function readmeExample(): { code: string; expected: string[] } {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const m = /^## Client\n[\s\S]*?^```js\n([\s\S]*?)^```$/m.exec(readme);
  if (m === null) throw new Error('README.md has no ```js block under "## Client"');
  const code = m[1]!;
  return { code, expected: [...code.matchAll(/\/\/ → (.*)$/gm)].map((x) => x[1]!) };
}

function run(file: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // The usagedb-source condition points the package's exports at the TypeScript sources: a checkout has no build.
    const child = spawn(process.execPath, ['--conditions=usagedb-source', file], {
      cwd: join(file, '..'),
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

it('the README client example runs as written and prints what its comments say', async () => {
  const { code, expected } = readmeExample();
  expect(
    code
      .trim()
      .split('\n')
      .filter((l) => l.trim() !== '').length,
  ).toBeLessThanOrEqual(10);
  expect(expected.length).toBe(2);
  const dir = mkdtempSync(join(tmpdir(), 'usagedb-readme-'));
  const inst = await openInstance(new MemoryStore(), 'readme');
  const http = await listen(inst);
  try {
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(root, join(dir, 'node_modules', 'usagedb'), 'dir');
    writeFileSync(join(dir, 'example.mjs'), code);
    const r = await run(join(dir, 'example.mjs'), { USAGEDB_URL: http.url });
    expect(r.stderr.split('\n').filter((l) => l.trim() !== '' && !/ExperimentalWarning|--trace-warnings/.test(l))).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(expected);
  } finally {
    await http.close();
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
