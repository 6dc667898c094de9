/**
 * Choosing the store from configuration: USAGEDB_STORE=r2 (the Workers R2 binding) and where it
 * is refused (Node, Lambda, the CLI: a ValidationError naming USAGEDB_STORE), and the simulated
 * R2 per-key write limit (USAGEDB_SIMULATE_KEY_WRITE_INTERVAL_MS / _KEYS) wrapping any store.
 * The Worker side (the binding passed to the store factory) is tested in workerd:
 * worker-r2.test.ts.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.ts';
import { configure } from '../../src/runtime/boot.ts';
import { loadConfig } from '../../src/runtime/config.ts';
import { describeStore, storeFromConfig } from '../../src/runtime/store-from-config.ts';
import { AmbiguousWriteError } from '../../src/store/errors.ts';
import type { KeyWriteLimitedStore } from '../../src/store/key-write-limit.ts';
import { usage } from '../support/fixtures.ts';

const enc = new TextEncoder();
const nodeLike = { name: 'node', write: () => undefined, loopbackOnly: true, crossRequestSharing: true } as const;

describe('USAGEDB_STORE=r2', () => {
  it('parses as the r2 store kind, with nothing else to configure', () => {
    expect(loadConfig({ USAGEDB_STORE: 'r2' }).store).toEqual({ kind: 'r2' });
    expect(describeStore({ kind: 'r2' })).toBe('r2 binding USAGEDB_R2');
  });

  it('is a ValidationError naming USAGEDB_STORE where no R2 binding exists (Node, Lambda, CLI)', () => {
    const err = (() => {
      try {
        configure({ USAGEDB_STORE: 'r2' }, nodeLike);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).message).toMatch(/^configuration: USAGEDB_STORE: r2 is the R2 bucket binding \(USAGEDB_R2\) of Cloudflare Workers/);
    expect((err as ValidationError).message).toContain('use s3');
    // The CLI builds its store directly: refused the same way.
    expect(() => storeFromConfig({ kind: 'r2' })).toThrow(/^configuration: USAGEDB_STORE: r2 /);
  });

  it('the Node server names USAGEDB_STORE and exits 1', async () => {
    const child = spawn(process.execPath, [join(import.meta.dirname, '../../src/runtime/node.ts')], {
      env: { PATH: process.env.PATH ?? '', USAGEDB_STORE: 'r2', PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code, out).toBe(1);
    expect(out).toContain('configuration: USAGEDB_STORE: r2 is the R2 bucket binding');
  }, 30_000);

  describe('on Lambda', () => {
    const saved = { ...process.env };
    afterEach(() => {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    });

    it('the handler fails to start with a ValidationError naming USAGEDB_STORE', async () => {
      Object.assign(process.env, { USAGEDB_STORE: 'r2', USAGEDB_API_KEYS: 'tester:lambda-r2-secret-0123456789:admin', USAGEDB_LOG_LEVEL: 'error' });
      const lambda = await import('../../src/runtime/lambda.ts');
      const err = await lambda
        .handler({ version: '2.0', rawPath: '/health', rawQueryString: '', headers: {}, requestContext: { http: { method: 'GET' } } } as never)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).message).toMatch(/^configuration: USAGEDB_STORE: r2 /);
    });
  });
});

describe('USAGEDB_SIMULATE_KEY_WRITE_INTERVAL_MS', () => {
  it('is off by default', () => {
    expect(loadConfig({}).store.simulatedKeyWriteLimit).toBeUndefined();
  });

  it('wraps whichever store is configured, limited to the key patterns given', async () => {
    const cfg = loadConfig({
      USAGEDB_STORE: 'memory',
      USAGEDB_SIMULATE_KEY_WRITE_INTERVAL_MS: '60000',
      USAGEDB_SIMULATE_KEY_WRITE_KEYS: '*/manifest/current.json, usagedb/_scratch/*',
    });
    expect(cfg.store).toEqual({ kind: 'memory', simulatedKeyWriteLimit: { intervalMs: 60_000, keys: ['*/manifest/current.json', 'usagedb/_scratch/*'] } });
    expect(describeStore(cfg.store)).toBe('memory (simulated key write limit: 60000 ms)');
    const store = storeFromConfig(cfg.store) as KeyWriteLimitedStore;
    expect(store.kind).toBe('memory');
    expect(store.keyWriteLimit.intervalMs).toBe(60_000);
    const m = 'usagedb/shards/00/manifest/current.json';
    await store.put(m, enc.encode('1'));
    const err = await store.put(m, enc.encode('2')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AmbiguousWriteError);
    expect((err as AmbiguousWriteError).throttled).toBe(true);
    await store.put('usagedb/db.json', enc.encode('a'));
    await store.put('usagedb/db.json', enc.encode('b'));
    expect(store.keyWriteLimit.stats).toEqual({ admitted: 1, throttled: 1 });
  });

  it('every key when no patterns are given; the S3 store is wrapped too', () => {
    const cfg = loadConfig({ USAGEDB_S3_BUCKET: 'usage', USAGEDB_SIMULATE_KEY_WRITE_INTERVAL_MS: '1000' });
    expect(cfg.store).toMatchObject({ kind: 's3', simulatedKeyWriteLimit: { intervalMs: 1000, keys: undefined } });
    expect((storeFromConfig(cfg.store) as KeyWriteLimitedStore).keyWriteLimit.intervalMs).toBe(1000);
  });

  it('the Node server runs on a limited store: it says so at start, and back-to-back commits of one shard still answer 200', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const child = spawn(process.execPath, [join(import.meta.dirname, '../../src/runtime/node.ts')], {
      env: {
        PATH: process.env.PATH ?? '',
        PORT: String(port),
        USAGEDB_DATA_DIR: mkdtempSync(join(tmpdir(), 'usagedb-limited-')),
        USAGEDB_SHARDS: '1',
        USAGEDB_BUCKETS: '1',
        USAGEDB_JOBS: 'false',
        USAGEDB_SIMULATE_KEY_WRITE_INTERVAL_MS: '400',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    const base = `http://127.0.0.1:${port}`;
    try {
      for (let i = 0; ; i++) {
        if (i > 300) throw new Error(`server did not start: ${out}`);
        const ok = await fetch(`${base}/health`).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      for (let i = 1; i <= 3; i++) {
        const res = await fetch(`${base}/v1/usage/batch`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ events: [usage(i)] }),
        });
        expect(res.status, out).toBe(200);
        expect(await res.json()).toMatchObject({ accepted: 1 });
      }
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(Number(/usagedb_manifest_ambiguous_writes_total\{shard="0"\} (\d+)/.exec(metrics)?.[1] ?? 0), metrics).toBeGreaterThan(0);
      const warn = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => typeof l.msg === 'string' && l.msg.startsWith('simulating R2 per-key write limit'));
      expect(warn, out).toMatchObject({ level: 'warn', interval_ms: 400, keys: ['*'] });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 60_000);

  const bad: [Record<string, string>, string][] = [
    [{ USAGEDB_SIMULATE_KEY_WRITE_INTERVAL_MS: '0' }, 'USAGEDB_SIMULATE_KEY_WRITE_INTERVAL_MS'],
    [{ USAGEDB_SIMULATE_KEY_WRITE_INTERVAL_MS: 'soon' }, 'USAGEDB_SIMULATE_KEY_WRITE_INTERVAL_MS'],
    [{ USAGEDB_SIMULATE_KEY_WRITE_KEYS: '*/current.json' }, 'USAGEDB_SIMULATE_KEY_WRITE_KEYS'],
    [{ USAGEDB_SIMULATE_KEY_WRITE_INTERVAL_MS: '1000', USAGEDB_SIMULATE_KEY_WRITE_KEYS: 'a,,b' }, 'USAGEDB_SIMULATE_KEY_WRITE_KEYS'],
  ];
  for (const [env, name] of bad) {
    it(`names ${name} when it is wrong (${JSON.stringify(env)})`, () => {
      expect(() => loadConfig(env)).toThrow(new RegExp(`^configuration: ${name}:`));
    });
  }
});
