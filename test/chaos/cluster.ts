/**
 * The processes of a chaos run: usageDb Node servers (`node src/runtime/node.ts`, as `npm start`
 * runs it) on one MinIO bucket, each on a fixed port so a restarted server is found where it was,
 * with their output in a log file. Every kill is SIGKILL (a crash: no shutdown hook runs).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';

const ENTRY = join(import.meta.dirname, '../../src/runtime/node.ts');

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One usageDb server process that can be killed and started again on its port. */
export class ServerProcess {
  readonly index: number;
  readonly port: number;
  private readonly env: Record<string, string>;
  private readonly log: WriteStream;
  private child: ChildProcess | undefined;
  /** When the current process was spawned (ms), and when it first answered /health 200. */
  startedAt = 0;
  healthyAt: number | undefined;

  constructor(index: number, port: number, env: Record<string, string>, logDir: string, tag: string) {
    this.index = index;
    this.port = port;
    this.env = env;
    this.log = createWriteStream(join(logDir, `${tag}-server${index}.log`), { flags: 'a' });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    if (this.running) throw new Error(`server ${this.index} is already running`);
    this.log.write(`--- start ${new Date().toISOString()}\n`);
    const child = spawn(process.execPath, [ENTRY], {
      env: { PATH: process.env.PATH ?? '', ...this.env, PORT: String(this.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.pipe(this.log, { end: false });
    child.stderr!.pipe(this.log, { end: false });
    this.child = child;
    this.startedAt = Date.now();
    this.healthyAt = undefined;
  }

  /** Polls GET /health until 200 (store reachable, services built); answers ms since the spawn. */
  async waitHealthy(timeoutMs = 120_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    const started = this.startedAt;
    for (;;) {
      if (!this.running || this.startedAt !== started) throw new Error(`server ${this.index} exited while starting`);
      try {
        const res = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(2_000) });
        await res.body?.cancel();
        if (res.status === 200) {
          this.healthyAt = Date.now();
          return this.healthyAt - started;
        }
      } catch {
        // not listening yet, or the store is still down
      }
      if (Date.now() > deadline) throw new Error(`server ${this.index} did not become healthy in ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
    this.log.write(`--- ${signal} ${new Date().toISOString()}\n`);
  }

  async close(): Promise<void> {
    await this.kill('SIGKILL');
    await new Promise((r) => this.log.end(r));
  }
}
