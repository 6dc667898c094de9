/**
 * What every CLI command shares: its I/O, the configuration (env vars overridden by flags), the
 * store and the opened Database, output in human or `--json` form, and the typed errors that
 * become the documented exit codes (2 usage, 3 store/config).
 */
import type { Config } from '../runtime/config.ts';
import { loadConfig } from '../runtime/config.ts';
import { describeStore, storeFromConfig } from '../runtime/store-from-config.ts';
import { systemDeps } from '../runtime/system.ts';
import { Database } from '../manifest/database.ts';
import { dbInfoKey } from '../manifest/keys.ts';
import type { Deps } from '../model/deps.ts';
import type { ObjectStore } from '../store/types.ts';
import { FsStore } from '../store/fs.ts';
import { resolve } from 'node:path';
import { ValidationError } from '../errors.ts';
import { Progress } from './progress.ts';

/** A writable text stream (process.stdout / stderr, or a test buffer). */
export interface CliStream {
  write(chunk: string | Uint8Array): unknown;
  readonly isTTY?: boolean | undefined;
  once?(event: 'drain', listener: () => void): unknown;
}

export interface CliIo {
  readonly stdout: CliStream;
  readonly stderr: CliStream;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Tests: use this store instead of building one from the configuration. */
  readonly store?: ObjectStore;
  /** Tests: clock and randomness (default: the system's). */
  readonly deps?: Deps;
}

export const EXIT = { ok: 0, problems: 1, usage: 2, store: 3 } as const;

/** Bad command line: exit 2. */
export class CliUsageError extends Error {}
/** Bad configuration or no database where one was expected: exit 3. */
export class CliConfigError extends Error {}

/** Flag → environment variable it overrides. */
export const STORE_FLAGS = {
  store: 'USAGEDB_STORE',
  'data-dir': 'USAGEDB_DATA_DIR',
  prefix: 'USAGEDB_PREFIX',
  's3-endpoint': 'USAGEDB_S3_ENDPOINT',
  's3-bucket': 'USAGEDB_S3_BUCKET',
  's3-region': 'USAGEDB_S3_REGION',
} as const;

export type Values = Record<string, string | boolean | undefined>;

/** The environment with the store flags applied over it. */
export function effectiveEnv(env: CliIo['env'], values: Values): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = { ...env };
  for (const [flag, name] of Object.entries(STORE_FLAGS)) {
    const v = values[flag];
    if (typeof v === 'string') out[name] = v;
  }
  return out;
}

export class Context {
  readonly io: CliIo;
  readonly json: boolean;
  readonly env: Record<string, string | undefined>;
  private cfg: Config | undefined;
  private storeInstance: ObjectStore | undefined;

  constructor(io: CliIo, values: Values) {
    this.io = io;
    this.json = values.json === true;
    this.env = effectiveEnv(io.env, values);
  }

  get deps(): Deps {
    return this.io.deps ?? systemDeps();
  }

  config(): Config {
    if (this.cfg === undefined) {
      try {
        this.cfg = loadConfig(this.env);
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        const flag = Object.entries(STORE_FLAGS).find(([, name]) => name === err.field)?.[0];
        throw new CliConfigError(flag === undefined ? err.message : `${err.message} (set by --${flag} or ${err.field})`);
      }
    }
    return this.cfg;
  }

  store(): ObjectStore {
    this.storeInstance ??= this.io.store ?? storeFromConfig(this.config().store, (dir) => new FsStore({ root: resolve(dir) }));
    return this.storeInstance;
  }

  /** Where the database is, for messages. */
  where(): string {
    const c = this.config();
    return `${this.io.store !== undefined ? this.io.store.kind : describeStore(c.store)} prefix "${c.prefix}"`;
  }

  /**
   * Opens an existing database (never creates one). `probe` runs the conditional-write probe
   * (needed before writing, and reported by `check`); read-only commands skip it.
   */
  async open(opts: { probe: boolean }): Promise<Database> {
    const cfg = this.config();
    const store = this.store();
    const info = await store.get(dbInfoKey(cfg.prefix));
    if (info === null) throw new CliConfigError(`no usageDb database at ${this.where()} (no db.json); check --prefix / USAGEDB_PREFIX and the store settings`);
    return Database.open({ store, prefix: cfg.prefix, deps: this.deps, probe: opts.probe });
  }

  /** Prints `value` as JSON with --json, else the human text. */
  emit(value: unknown, human: () => string): void {
    const text = this.json ? `${JSON.stringify(value, jsonReplacer, 2)}\n` : human();
    this.io.stdout.write(text.endsWith('\n') || text === '' ? text : `${text}\n`);
  }

  /** A line on stderr (notes, warnings); never mixed into --json output. */
  note(line: string): void {
    this.io.stderr.write(`${line}\n`);
  }

  /** A progress bar on stderr when it is a terminal; silent otherwise. */
  progress(label: string, total: number): Progress {
    return new Progress(this.io.stderr, label, total, this.io.stderr.isTTY === true);
  }
}

/** BigInts as decimal strings. */
export function jsonReplacer(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

export function iso(ms: number | undefined): string {
  return ms === undefined ? '-' : new Date(ms).toISOString();
}

/** Left-aligned text table. */
export function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const all = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}
