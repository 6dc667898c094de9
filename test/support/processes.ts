/**
 * Real OS processes for tests that check what a user runs (npm start, the installed `usagedb`,
 * the Lambda bundle, the container's start command): spawn with output kept, wait for a port to
 * answer, stop by pid. Never by name: only the processes a test started are signalled.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Whether nothing listens on 127.0.0.1:port (a listen on it succeeds). */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export interface Started {
  readonly child: ChildProcess;
  /** stdout and stderr so far, interleaved. */
  output(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function start(command: string, args: readonly string[], opts: { cwd: string; env: Record<string, string | undefined> }): Started {
  const child = spawn(command, [...args], { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (err) => {
      out += `\n[spawn error] ${err.message}\n`;
      resolve({ code: null, signal: null });
    });
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, output: () => out, exited };
}

/** Runs to completion: exit code and output. */
export async function run(
  command: string,
  args: readonly string[],
  opts: { cwd: string; env: Record<string, string | undefined>; timeoutMs?: number },
): Promise<{ code: number | null; output: string }> {
  const s = start(command, args, opts);
  const timer = setTimeout(() => s.child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
  const { code } = await s.exited;
  clearTimeout(timer);
  return { code, output: s.output() };
}

/** Waits until `url` answers (any status), or the process exits, or `timeoutMs` passes. */
export async function waitForHttp(url: string, s: Started, timeoutMs = 30_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void s.exited.then(() => (exited = true));
  for (;;) {
    try {
      return await fetch(url, { signal: AbortSignal.timeout(2_000) });
    } catch {
      // not listening yet
    }
    if (exited) throw new Error(`the process exited before ${url} answered:\n${s.output()}`);
    if (Date.now() > deadline) throw new Error(`${url} did not answer in ${timeoutMs} ms:\n${s.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Stops a started process (SIGTERM, then SIGKILL after `graceMs`) and waits for its exit. */
export async function stop(s: Started, graceMs = 10_000): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  s.child.kill('SIGTERM');
  const timer = setTimeout(() => s.child.kill('SIGKILL'), graceMs);
  await s.exited;
  clearTimeout(timer);
}

/** The environment a child gets: PATH (so `node` is this project's Node) plus `extra`. */
export function childEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
}

/**
 * Our server from the sources (`node src/runtime/node.ts`) on 127.0.0.1:`port`, jobs off, warnings
 * and errors logged only; `env` adds or overrides settings (store, keys, shards, peers).
 */
export function startServer(port: number, env: Record<string, string>): Started {
  return start(process.execPath, ['src/runtime/node.ts'], {
    cwd: ROOT,
    env: childEnv({ PORT: String(port), USAGEDB_JOBS: 'false', USAGEDB_LOG_LEVEL: 'warn', ...env }),
  });
}
