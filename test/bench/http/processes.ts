/**
 * Starts the systems under test as OS processes and stops them: our Node server
 * (`node src/runtime/node.ts`, or its compiled build as the container image runs it), the Rust reference (`usagedb serve --db-root DIR`, fixed on
 * 127.0.0.1:8080) and our Worker in workerd through `wrangler dev`. Every process's output is
 * kept (a tail for error messages, plus counts of lines matching given patterns).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startScriptEnv, startScriptFlags } from '../../support/server-command.ts';
import { wranglerConfigWithoutSequencer } from '../../support/workerd.ts';

export const ROOT = resolve(import.meta.dirname, '../../..');

export interface S3Target {
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly bucket: string;
}

export interface Running {
  readonly name: string;
  readonly url: string;
  readonly pid: number | undefined;
  /** The last ~16 KB of stdout + stderr, ANSI colours removed. */
  output(): string;
  /** Lines seen so far that matched each watched pattern. */
  matches(): Record<string, number>;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr !== null ? res(addr.port) : rej(new Error('no port'))));
    });
  });
}

export function tempDir(what: string): string {
  return mkdtempSync(join(tmpdir(), `usagedb-bench-http-${what}-`));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Watched {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  output(): string;
  matches(): Record<string, number>;
}

function launch(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, watch: readonly string[] = []): Watched {
  // Own process group (detached), so stopping also reaches wrangler's workerd child.
  const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let tail = '';
  let partial = '';
  const counts: Record<string, number> = Object.fromEntries(watch.map((w) => [w, 0]));
  const onData = (d: Buffer) => {
    const text = d.toString().replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
    tail = (tail + text).slice(-16_384);
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) for (const w of watch) if (line.includes(w)) counts[w]!++;
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, exited, output: () => tail, matches: () => ({ ...counts }) };
}

async function waitHttp(url: string, p: Watched, what: string, timeoutMs: number, headers: Record<string, string> = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    if (p.child.exitCode !== null) throw new Error(`${what} exited with ${p.child.exitCode} before answering ${url}:\n${p.output()}`);
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(5_000) });
      const body = await res.text();
      if (res.ok) return;
      last = `${res.status} ${body.slice(0, 300)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      killGroup(p.child, 'SIGKILL');
      throw new Error(`${what} did not answer ${url} within ${timeoutMs / 1000} s (last: ${last}):\n${p.output()}`);
    }
    await sleep(100);
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

async function stopGroup(p: Watched, graceMs: number): Promise<void> {
  killGroup(p.child, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const done = await Promise.race([p.exited.then(() => true), new Promise<false>((r) => (timer = setTimeout(() => r(false), graceMs)))]);
  clearTimeout(timer);
  if (!done) {
    killGroup(p.child, 'SIGKILL');
    await p.exited;
  }
  // wrangler's workerd may outlive wrangler itself; the group kill reaches it.
  killGroup(p.child, 'SIGKILL');
}

const running = (name: string, url: string, p: Watched, stop: () => Promise<void>): Running => ({
  name,
  url,
  pid: p.child.pid,
  output: p.output,
  matches: p.matches,
  stop,
});

export interface OursOptions {
  readonly store: { readonly kind: 'fs'; readonly dataDir: string } | ({ readonly kind: 's3' } & S3Target);
  readonly prefix: string;
  readonly apiKeys: string;
  readonly logLevel: string;
  readonly name: string;
  /** Write a V8 CPU profile of the server here (node --cpu-prof), for finding where the time goes. */
  readonly cpuProfDir?: string | undefined;
  /** Extra environment (--server-env). */
  readonly env?: Readonly<Record<string, string>>;
  /** Peer with the other processes of the run (USAGEDB_PEER_URL = this process's URL, this shared token). */
  readonly peerToken?: string;
}

/** What `startOurs` runs: the TypeScript sources, until `compileServer` is called. */
let serverEntry = join(ROOT, 'src/runtime/node.ts');

/**
 * Compiles the server the way the container image does (infra/tsconfig.image.json) into
 * dist/bench-server and makes `startOurs` run that: benchmarks measure what is deployed, not
 * Node's type stripper (~26 MB of RSS and a slower start). Returns the entry, relative to the root.
 */
export function compileServer(): string {
  const out = join(ROOT, 'dist', 'bench-server');
  rmSync(out, { recursive: true, force: true });
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'infra/tsconfig.image.json', '--outDir', out], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  serverEntry = join(out, 'runtime', 'node.js');
  return serverEntry.slice(ROOT.length + 1);
}

/** Our server (`serverEntry`) with `npm start`'s node flags and environment, on a free loopback port, jobs off, this scenario's prefix. */
export async function startOurs(o: OursOptions): Promise<Running> {
  const port = await freePort();
  const store: Record<string, string> =
    o.store.kind === 'fs'
      ? { USAGEDB_STORE: 'fs', USAGEDB_DATA_DIR: o.store.dataDir }
      : {
          USAGEDB_STORE: 's3',
          USAGEDB_S3_ENDPOINT: o.store.endpoint,
          USAGEDB_S3_REGION: o.store.region,
          USAGEDB_S3_BUCKET: o.store.bucket,
          USAGEDB_S3_ACCESS_KEY_ID: o.store.accessKeyId,
          USAGEDB_S3_SECRET_ACCESS_KEY: o.store.secretAccessKey,
        };
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    HOST: '127.0.0.1',
    PORT: String(port),
    USAGEDB_JOBS: 'false',
    USAGEDB_PREFIX: o.prefix,
    USAGEDB_API_KEYS: o.apiKeys,
    USAGEDB_LOG_LEVEL: o.logLevel,
    ...startScriptEnv(),
    ...store,
    ...(o.peerToken === undefined ? {} : { USAGEDB_PEER_URL: `http://127.0.0.1:${port}`, USAGEDB_PEER_TOKEN: o.peerToken }),
    ...o.env,
  };
  const prof =
    o.cpuProfDir === undefined
      ? []
      : // A directory per server, Node's default file names: the directory store's write thread writes its own profile.
        ['--cpu-prof', `--cpu-prof-dir=${join(o.cpuProfDir, `${o.name.replace(/[^\w.-]/g, '_')}-${Date.now()}`)}`];
  const p = launch(process.execPath, [...startScriptFlags(), ...prof, serverEntry], env);
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/health`, p, o.name, 60_000);
  return running(o.name, url, p, () => stopGroup(p, 15_000));
}

export const REFERENCE_URL = 'http://127.0.0.1:8080';

/**
 * The reference on a fresh db root. Stop: SIGINT makes it drain its memtable into segments
 * (it may not exit afterwards), so wait until its wal/ directory holds no data, then SIGKILL.
 */
export async function startReference(bin: string, dbRoot: string): Promise<Running> {
  // Port 8080 is fixed: make sure no earlier reference still holds it.
  for (let i = 0; i < 50; i++) {
    try {
      await fetch(`${REFERENCE_URL}/health`, { signal: AbortSignal.timeout(500) });
    } catch {
      break;
    }
    if (i === 49) throw new Error(`something already answers on ${REFERENCE_URL}; stop it first`);
    await sleep(100);
  }
  const p = launch(bin, ['serve', '--db-root', dbRoot], { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', RUST_LOG: 'warn' });
  await waitHttp(`${REFERENCE_URL}/health`, p, 'reference', 30_000);
  return running('reference', REFERENCE_URL, p, async () => {
    killGroup(p.child, 'SIGINT');
    const wal = join(dbRoot, 'wal');
    const deadline = Date.now() + 30_000;
    // Drained: the sealed logs are gone, only the new (empty) one remains.
    const pending = () => existsSync(wal) && readdirSync(wal).some((f) => statSync(join(wal, f)).size > 0);
    while (Date.now() < deadline && p.child.exitCode === null && pending()) await sleep(50);
    killGroup(p.child, 'SIGKILL');
    await p.exited;
  });
}

export interface WorkerOptions {
  readonly s3: S3Target;
  readonly prefix: string;
  readonly apiKeys: string;
  readonly logLevel: string;
  /** Substrings of wrangler/workerd output lines to count. */
  readonly watch: readonly string[];
  /** With the shard sequencers' Durable Object binding (wrangler.toml as is), or without. */
  readonly sequencer: boolean;
  readonly vars: Readonly<Record<string, string>>;
}

/** Our Worker in workerd via `wrangler dev` (what `npm run dev:worker` runs) with this run's vars and secrets. */
export async function startWorker(o: WorkerOptions): Promise<Running> {
  const port = await freePort();
  const inspector = await freePort();
  const persist = tempDir('wrangler');
  const vars: Record<string, string> = {
    USAGEDB_STORE: 's3',
    USAGEDB_S3_ENDPOINT: o.s3.endpoint,
    USAGEDB_S3_REGION: o.s3.region,
    USAGEDB_S3_BUCKET: o.s3.bucket,
    USAGEDB_S3_ACCESS_KEY_ID: o.s3.accessKeyId,
    USAGEDB_S3_SECRET_ACCESS_KEY: o.s3.secretAccessKey,
    USAGEDB_PREFIX: o.prefix,
    USAGEDB_API_KEYS: o.apiKeys,
    USAGEDB_JOBS: 'false',
    USAGEDB_LOG_LEVEL: o.logLevel,
    ...o.vars,
  };
  const envFile = join(persist, 'bench.env');
  writeFileSync(
    envFile,
    Object.entries(vars)
      .map(([k, v]) => `${k}="${v}"\n`)
      .join(''),
    { mode: 0o600 },
  );
  const args = [
    join(ROOT, 'node_modules/wrangler/bin/wrangler.js'),
    'dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--inspector-port',
    String(inspector),
    '--persist-to',
    persist,
    '--show-interactive-dev-session=false',
    // Vars and secrets from a private temp file (not argv, and no stray .dev.vars is read).
    '--env-file',
    envFile,
  ];
  const config = o.sequencer ? undefined : wranglerConfigWithoutSequencer();
  if (config !== undefined) args.push('--config', config);
  const env = {
    ...process.env,
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    WRANGLER_SEND_METRICS: 'false',
    NO_COLOR: '1',
    FORCE_COLOR: '0',
    CI: '1',
  };
  const p = launch(process.execPath, args, env, o.watch);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitHttp(`${url}/health`, p, 'wrangler dev', 120_000);
  } catch (err) {
    rmSync(persist, { recursive: true, force: true });
    if (config !== undefined) rmSync(config, { force: true });
    throw err;
  }
  return running('worker', url, p, async () => {
    await stopGroup(p, 10_000);
    rmSync(persist, { recursive: true, force: true });
    if (config !== undefined) rmSync(config, { force: true });
  });
}
