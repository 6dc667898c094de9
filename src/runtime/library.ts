/**
 * `usagedb` (the package's main entry): the server as a library for Node. `createUsageDb` takes the
 * same configuration as `npm start` and builds the same Hono app and services, without listening,
 * so an application can mount the app in its own server or call `app.fetch` in process. Never
 * listens on a port and never installs signal handlers: those belong to the embedding program.
 */
import { resolve } from 'node:path';
import type { Hono } from 'hono';
import type { AppEnv } from '../api/env.ts';
import { jsonLogger, type Logger } from '../api/observability.ts';
import { FsStore } from '../store/fs.ts';
import type { ObjectStore } from '../store/types.ts';
import { loadConfig, type Config } from './config.ts';
import { startScheduler, type Scheduler } from './scheduler.ts';
import { buildServices, type Services } from './services.ts';
import { storeFromConfig } from './store-from-config.ts';
import { systemDeps } from './system.ts';

export type { AppEnv } from '../api/env.ts';
export { createApp, type AppOptions } from '../api/app.ts';
export { PUBLIC_ERROR_CODES } from '../api/errors.ts';
export { Metrics } from '../api/metrics.ts';
export { jsonLogger, silentLogger, type Logger, type LogFields, type LogLevel } from '../api/observability.ts';
export { isUsageDbError, UsageDbError, ValidationError, type ErrorKind } from '../errors.ts';
export { JOB_NAMES, runJob, type JobName, type JobOptions, type JobReport } from '../jobs/run.ts';
export { loadConfig, type Config, type StoreConfig } from './config.ts';
export { startScheduler, type Scheduler } from './scheduler.ts';
export { buildServices, type BuildOptions, type Services } from './services.ts';
export { systemDeps } from './system.ts';

export interface CreateUsageDbOptions {
  /** Variables as for `npm start` (README: Configuration). Default: `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Use this store instead of the one the variables name (a `MemoryStore` for tests, say). */
  readonly store?: ObjectStore;
  /** Where log lines go. Default: JSON lines on stdout (stderr for errors) at USAGEDB_LOG_LEVEL. */
  readonly logger?: Logger;
  /**
   * Whether only this machine can reach the app. Without API keys the app is built only then
   * (and warns); default false, because this module cannot see where the app is served.
   */
  readonly loopbackOnly?: boolean;
  /** Run rollup, compaction and GC on their intervals. Default: USAGEDB_JOBS (true unless set false). */
  readonly jobs?: boolean;
}

export interface UsageDb {
  /** The API: mount it (`server.route('/', db.app)`) or call `db.app.fetch(request)`. */
  readonly app: Hono<AppEnv>;
  readonly services: Services;
  readonly config: Config;
  /** Stops the job intervals and waits for running jobs, in-flight commits and history copies. */
  close(): Promise<void>;
}

const writeLine = (line: string, level: string) => (level === 'error' ? process.stderr : process.stdout).write(`${line}\n`);

/** Opens (or creates) the database the configuration names and builds the app over it. */
export async function createUsageDb(opts: CreateUsageDbOptions = {}): Promise<UsageDb> {
  const config = loadConfig(opts.env ?? process.env);
  const logger = opts.logger ?? jsonLogger(writeLine, config.logLevel);
  const store = opts.store ?? storeFromConfig(config.store, (dir) => new FsStore({ root: resolve(dir) }));
  const services = await buildServices({ config, store, deps: systemDeps(), logger, loopbackOnly: opts.loopbackOnly ?? false });
  let jobs: Scheduler | undefined;
  if (opts.jobs ?? config.jobs.enabled) {
    jobs = startScheduler(services, { rollup: config.jobs.rollupIntervalMs, compact: config.jobs.compactIntervalMs, gc: config.jobs.gcIntervalMs }, logger);
  }
  return {
    app: services.app,
    services,
    config,
    async close() {
      await jobs?.stop();
      await services.ingestor.idle();
    },
  };
}
