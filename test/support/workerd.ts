/**
 * The real Worker in workerd for tests: wrangler bundles src/runtime/worker.ts with the project's
 * wrangler.toml (`wrangler deploy --dry-run`, so the alias and nodejs_compat are the deployed
 * ones) and miniflare runs that bundle with vars and secrets as string bindings. Everything
 * wrangler and workerd print is kept, so a failing test can show it and a test can look for
 * runtime warnings. Never skipped: if wrangler or workerd cannot run, the caller fails loudly.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Miniflare as MiniflareType } from 'miniflare';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const WRANGLER_VERSION = '4.116.0';
export const MINIFLARE_VERSION = '4.20260730.0';

/** What wrangler and workerd printed, in order, without colours (the last 200,000 characters). */
export class RuntimeOutput {
  text = '';
  record(what: string, chunk: string): void {
    const plain = chunk.replace(/\x1b\[[0-9;]*m/g, '');
    const lines = plain.split('\n').filter((l) => l !== '');
    this.text = (this.text + lines.map((l) => `[${what}] ${l}\n`).join('')).slice(-200_000);
  }
  /** `message` followed by everything recorded so far. */
  explain(message: string): string {
    return `${message}\n--- wrangler/workerd output ---\n${this.text.slice(-40_000) || '(none)'}`;
  }
  /** The Worker's JSON log lines (what it printed with console.log). */
  jsonLines(): Record<string, unknown>[] {
    return this.text
      .split('\n')
      .filter((l) => l.startsWith('[workerd] {'))
      .flatMap((l) => {
        try {
          return [JSON.parse(l.slice('[workerd] '.length)) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
  }
  /** Waits until at least `count` JSON log lines match (workerd's stdout arrives asynchronously). */
  async waitForLines(match: (line: Record<string, unknown>) => boolean, count: number, timeoutMs = 5_000): Promise<Record<string, unknown>[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = this.jsonLines().filter(match);
      if (lines.length >= count || Date.now() > deadline) return lines;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function packageDir(name: string, version: string): string {
  try {
    return dirname(createRequire(join(ROOT, 'package.json')).resolve(`${name}/package.json`));
  } catch {
    throw new Error(`${name} is not installed: the Worker tests need it (npm i -D ${name}@${version}); they are never skipped`);
  }
}

/**
 * wrangler.toml without the Durable Object blocks (the direct path, or a test Worker that does not
 * export the sequencer class), written beside it (paths in it are relative to its directory); the
 * caller removes it.
 */
export function wranglerConfigWithoutSequencer(): string {
  const toml = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8')
    .replace(/^\[\[durable_objects\.bindings\]\][\s\S]*?(?=^\[\[migrations\]\])/m, '')
    .replace(/^\[\[migrations\]\][\s\S]*?(?=^#|^\[)/m, '');
  if (toml.includes('durable_objects') || toml.includes('[[migrations]]')) throw new Error('wrangler.toml: could not remove the Durable Object blocks');
  const path = join(ROOT, `.wrangler-without-sequencer-${process.pid}-${Math.random().toString(36).slice(2, 8)}.toml`);
  writeFileSync(path, toml);
  return path;
}

/**
 * `wrangler deploy --dry-run --outdir dir`: the bundle `wrangler deploy` would upload. Returns the
 * script path. `entry` (relative to the repository) bundles another entry point with the same
 * wrangler.toml (alias, nodejs_compat), e.g. a test Worker.
 */
export async function bundleWorker(outdir: string, output: RuntimeOutput, entry?: string): Promise<string> {
  const bin = join(packageDir('wrangler', WRANGLER_VERSION), 'bin', 'wrangler.js');
  // A test Worker does not export the sequencer class that wrangler.toml binds.
  const config = entry === undefined ? join(ROOT, 'wrangler.toml') : wranglerConfigWithoutSequencer();
  const args = [bin, 'deploy', ...(entry === undefined ? [] : [entry]), '--dry-run', '--outdir', outdir, '--config', config];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', FORCE_COLOR: '0', CI: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d: Buffer) => output.record('wrangler', d.toString()));
  child.stderr.on('data', (d: Buffer) => output.record('wrangler', d.toString()));
  const code = await new Promise<number | null>((res, rej) => {
    child.once('error', rej);
    child.once('exit', res);
  }).finally(() => {
    if (entry !== undefined) rmSync(config, { force: true });
  });
  if (code !== 0) {
    throw new Error(
      output.explain(
        `wrangler deploy --dry-run (bundling ${entry ?? 'src/runtime/worker.ts'}) exited with ${code}` +
          (process.versions.node.split('.').map(Number)[0]! < 22 ? `; wrangler ${WRANGLER_VERSION} needs Node >= 22.12, this is ${process.version}` : ''),
      ),
    );
  }
  // wrangler names the bundle after its entry: worker.ts → worker.js, x.worker.ts → x.worker.js.
  return join(outdir, basename(entry ?? 'src/runtime/worker.ts').replace(/\.ts$/, '.js'));
}

async function compatibilityDate(): Promise<string> {
  const toml = await readFile(join(ROOT, 'wrangler.toml'), 'utf8');
  const m = /^compatibility_date\s*=\s*"(\d{4}-\d{2}-\d{2})"/m.exec(toml);
  if (m === null) throw new Error('wrangler.toml: no compatibility_date');
  return m[1]!;
}

/**
 * Other bindings than strings: R2 buckets (binding name → bucket name), simulated in memory by
 * miniflare; `sequencer`: bind the shard sequencers' Durable Object class as wrangler.toml does
 * (without it the Worker commits from each request: the direct path).
 */
export interface ExtraBindings {
  readonly r2Buckets?: Readonly<Record<string, string>>;
  readonly sequencer?: boolean;
}

/** The bundle in workerd through miniflare's classic options, vars and secrets as string bindings. */
export async function startWorkerd(
  scriptPath: string,
  modulesRoot: string,
  bindings: Record<string, string>,
  output: RuntimeOutput,
  extra: ExtraBindings = {},
): Promise<MiniflareType> {
  let Miniflare: typeof MiniflareType;
  try {
    packageDir('miniflare', MINIFLARE_VERSION);
    ({ Miniflare } = await import('miniflare'));
  } catch (err) {
    throw new Error(output.explain(`miniflare ${MINIFLARE_VERSION} could not be loaded: ${(err as Error).message}`));
  }
  let mf: MiniflareType | undefined;
  try {
    mf = new Miniflare({
      modules: true,
      scriptPath,
      // Module names are paths relative to this (default: the cwd, and a bundle outside it fails).
      modulesRoot,
      compatibilityDate: await compatibilityDate(),
      compatibilityFlags: ['nodejs_compat'],
      cf: false,
      host: '127.0.0.1',
      bindings,
      ...(extra.sequencer === true ? { durableObjects: { USAGEDB_SEQUENCER: { className: 'ShardSequencer', useSQLite: true } } } : {}),
      ...(extra.r2Buckets === undefined ? {} : { r2Buckets: { ...extra.r2Buckets } }),
      handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
        stdout.on('data', (d: Buffer) => output.record('workerd', d.toString()));
        stderr.on('data', (d: Buffer) => output.record('workerd', d.toString()));
      },
    });
    await mf.ready;
    return mf;
  } catch (err) {
    await mf?.dispose().catch(() => undefined);
    throw new Error(output.explain(`workerd (miniflare ${MINIFLARE_VERSION}) did not start: ${(err as Error).message}`));
  }
}

/** The part of miniflare's Fetcher used here (its own types come from @cloudflare/workers-types). */
export interface ScheduledTarget {
  scheduled(options: { cron?: string; scheduledTime?: Date }): Promise<{ outcome: string; noRetry: boolean }>;
}

export async function scheduledTarget(mf: MiniflareType): Promise<ScheduledTarget> {
  return (await mf.getWorker()) as unknown as ScheduledTarget;
}

/** One JSON request to the Worker; the body parsed when it is JSON. */
export async function callWorker(
  mf: MiniflareType,
  path: string,
  init: { method?: string; body?: unknown; secret?: string } = {},
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (init.secret !== undefined) headers.authorization = `Bearer ${init.secret}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await mf.dispatchFetch(`http://usagedb.test${path}`, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await res.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body };
}
