/**
 * The real `usagedb` entry (src/cli/main.ts) as a child process against MinIO: `check --json`
 * exits 0 with its report on stdout, a usage error exits 2, and `serve` starts the HTTP server
 * on the configured store and stops on SIGTERM.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openInstance, postBatch, usage } from '../support/instance.ts';
import { testS3Store, uniquePrefix } from '../support/s3.ts';
import { s3Env } from './cli-support.ts';
import { SERVER_ENV, SERVER_NODE_FLAGS } from '../../src/runtime/node-settings.ts';

const main = join(import.meta.dirname, '../../src/cli/main.ts');

function run(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [main, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('usagedb executable', () => {
  it('check --json exits 0 with the report on stdout; a bad flag exits 2; no database exits 3', async () => {
    const prefix = uniquePrefix('cli-bin');
    const inst = await openInstance(testS3Store(), prefix, { shards: 2, buckets: 8 });
    expect((await postBatch(inst.app, [usage(1), usage(2, { quantity: '-36893488147419103232' })])).body.accepted).toBe(2);
    const env = s3Env(prefix);
    const r = await run(['check', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ ok: true, db_id: inst.db.info.db_id, shard_count: 2, bucket_count: 8, probe: { ok: true, problems: [] }, problems: [] });
    expect(report.shards.reduce((n: number, s: { rows: number }) => n + s.rows, 0)).toBe(2);
    expect(r.stderr).toBe('');

    const bad = await run(['check', '--deeep'], env);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain("Unknown option '--deeep'");

    const none = await run(['check', '--prefix', `${prefix}-nothing-here`], env);
    expect(none.code).toBe(3);
    expect(none.stderr).toContain('no usageDb database at');
  });

  it('serve starts the API on the configured store and stops on SIGTERM', async () => {
    const prefix = uniquePrefix('cli-serve');
    const inst = await openInstance(testS3Store(), prefix, { shards: 2, buckets: 8 });
    const child = spawn(process.execPath, [main, 'serve'], {
      env: { PATH: process.env.PATH ?? '', ...s3Env(prefix), HOST: '127.0.0.1', PORT: '0', USAGEDB_JOBS: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      let url: string | undefined;
      for (let i = 0; i < 300 && url === undefined; i++) {
        const line = out.split('\n').find((l) => l.includes('"usageDb listening"'));
        if (line !== undefined) url = (JSON.parse(line) as { url: string }).url;
        else await new Promise((r) => setTimeout(r, 50));
      }
      expect(url, out).toBeDefined();
      // It listens first and answers 503 until the store has answered; then 200.
      let health = await fetch(`${url}/health`);
      for (let i = 0; i < 100 && health.status === 503; i++) {
        await new Promise((r) => setTimeout(r, 50));
        health = await fetch(`${url}/health`);
      }
      expect(health.status).toBe(200);
      expect(((await health.json()) as { database: { db_id: string } }).database.db_id).toBe(inst.db.info.db_id);
      // Where Node can replace the process, the server runs with npm start's node flags and
      // allocator environment, in the same process (Linux: read back from /proc).
      if (typeof (process as { execve?: unknown }).execve === 'function' && existsSync(`/proc/${child.pid}/environ`)) {
        const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
        const environ = readFileSync(`/proc/${child.pid}/environ`, 'utf8').split('\0');
        expect(cmdline).toEqual(expect.arrayContaining([...SERVER_NODE_FLAGS]));
        expect(cmdline.some((a) => /runtime[/\\]node\.(ts|js)$/.test(a))).toBe(true);
        for (const [k, v] of Object.entries(SERVER_ENV)) expect(environ).toContain(`${k}=${v}`);
      } else console.log('serve: process.execve or /proc missing here; the server ran in the CLI process without the settings (not checked)');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
