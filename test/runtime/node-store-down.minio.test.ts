/**
 * The Node server started while its store is down: it listens anyway, answers 503 with
 * Retry-After (never a connection refused, never an exit), retries the store with backoff, and
 * serves normally once the store answers — no orchestrator needed to restart it.
 */
import { spawn } from 'node:child_process';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { usage } from '../support/fixtures.ts';
import { uniquePrefix } from '../support/s3.ts';

const entry = join(import.meta.dirname, '../../src/runtime/node.ts');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A TCP forwarder from `port` to the S3 endpoint: "the store comes back" when it starts. */
function forward(port: number, target: URL): Promise<Server> {
  const server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port) });
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

describe('node server started while the store is down', () => {
  it('answers 503 with Retry-After, retries, and serves once the store answers', async () => {
    const s3 = inject('s3');
    const storePort = await freePort(); // nothing listens there yet
    const port = await freePort();
    const secret = 'store-down-test-secret';
    const child = spawn(process.execPath, [entry], {
      env: {
        PATH: process.env.PATH ?? '',
        PORT: String(port),
        USAGEDB_STORE: 's3',
        USAGEDB_S3_ENDPOINT: `http://127.0.0.1:${storePort}`,
        USAGEDB_S3_BUCKET: s3.bucket,
        USAGEDB_S3_REGION: s3.region,
        USAGEDB_S3_ACCESS_KEY_ID: s3.accessKeyId,
        USAGEDB_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
        USAGEDB_S3_TIMEOUT_MS: '2000',
        USAGEDB_PREFIX: uniquePrefix('store-down'),
        USAGEDB_API_KEYS: `tester:${secret}:admin`,
        USAGEDB_JOBS: 'false',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    let proxy: Server | undefined;
    const base = `http://127.0.0.1:${port}`;
    try {
      let health: Response | undefined;
      for (let i = 0; i < 200 && health === undefined; i++) {
        health = await fetch(`${base}/health`).catch(() => undefined);
        if (health === undefined) await new Promise((r) => setTimeout(r, 50));
      }
      expect(health?.status, out).toBe(503);
      expect(health?.headers.get('retry-after')).toBe('2');
      const refused = await fetch(`${base}/v1/usage/batch`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: JSON.stringify({ events: [usage(1)] }),
      });
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('store_unavailable');
      // Still running, and saying why.
      for (let i = 0; i < 100 && !out.includes('the store did not answer at start'); i++) await new Promise((r) => setTimeout(r, 50));
      expect(out).toContain('the store did not answer at start; retrying');

      proxy = await forward(storePort, new URL(s3.endpoint));
      let status = 503;
      for (let i = 0; i < 300 && status !== 200; i++) {
        status = (await fetch(`${base}/health`)).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      expect(status, out).toBe(200);
      const ingest = await fetch(`${base}/v1/usage/batch`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: JSON.stringify({ events: [usage(1)] }),
      });
      expect(await ingest.json()).toMatchObject({ accepted: 1 });
      expect(out).not.toContain(secret);
    } finally {
      child.kill('SIGTERM');
      proxy?.close();
    }
    expect(await exited).toBe(0);
  }, 90_000);
});
