/**
 * The Node server as a real process driven over HTTP: start on the embedded fs store, ingest,
 * query, auth, graceful shutdown; refusal to start open on a non-loopback address; a bad
 * variable named at start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { usage } from '../support/fixtures.ts';

const entry = join(import.meta.dirname, '../../src/runtime/node.ts');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function start(env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [entry], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, output: () => out, exited };
}

async function waitFor(url: string, output: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`server did not start: ${output()}`);
}

describe('node server process', () => {
  it('serves ingest and queries on the fs store with keys, logs JSON with request ids, and shuts down cleanly', async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'usagedb-node-'));
    const secret = 'process-test-secret-1';
    const s = start({ PORT: String(port), USAGEDB_DATA_DIR: dir, USAGEDB_API_KEYS: `tester:${secret}:admin`, USAGEDB_JOBS: 'false' });
    const base = `http://127.0.0.1:${port}`;
    try {
      await waitFor(`${base}/health`, s.output);
      const auth = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };
      const events = [usage(1, { account_id: 'acme', quantity: '123456789012345678901234567890' }), usage(2, { account_id: 'acme', quantity: 10 })];
      const ingest = await fetch(`${base}/v1/usage/batch`, {
        method: 'POST',
        headers: { ...auth, 'x-request-id': 'req-abc-123' },
        body: JSON.stringify({ events }),
      });
      expect(ingest.headers.get('x-request-id')).toBe('req-abc-123');
      expect(await ingest.json()).toMatchObject({ accepted: 2 });
      const q = await fetch(`${base}/v1/accounts/acme/usage?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z`, { headers: auth });
      expect(((await q.json()) as { lines: unknown }).lines).toEqual([{ quantity: '123456789012345678901234567900', count: 2, unit: 'tokens' }]);
      expect((await fetch(`${base}/v1/accounts/acme/usage?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z`)).status).toBe(401);
      const metrics = await (await fetch(`${base}/metrics`, { headers: auth })).text();
      expect(metrics).toContain('usagedb_manifest_commits_total');
      const lines = s
        .output()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.some((l) => l.request_id === 'req-abc-123' && l.route === '/v1/usage/batch' && l.status === 200 && l.actor === 'tester')).toBe(true);
      expect(s.output()).not.toContain(secret);
    } finally {
      s.child.kill('SIGTERM');
    }
    expect(await s.exited).toBe(0);
  }, 60_000);

  it('refuses to start open (no keys) on a non-loopback address', async () => {
    const s = start({ HOST: '0.0.0.0', PORT: String(await freePort()), USAGEDB_DATA_DIR: mkdtempSync(join(tmpdir(), 'usagedb-node-')) });
    expect(await s.exited).toBe(1);
    expect(s.output()).toContain('USAGEDB_API_KEYS');
  }, 30_000);

  it('names a bad variable and exits 1', async () => {
    const s = start({ PORT: 'not-a-port' });
    expect(await s.exited).toBe(1);
    expect(s.output()).toContain('PORT');
  }, 30_000);
});
