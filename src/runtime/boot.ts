/**
 * The one boot path of every entry point: configuration → store → services, with what differs
 * per runtime passed in (how to log, whether there is a local disk, whether requests may share
 * work). Node, Workers and Lambda entries are adapters around it.
 */
import { jsonLogger, type Logger, type LogLevel } from '../api/observability.ts';
import type { R2BucketBinding } from '../store/r2-binding.ts';
import type { ObjectStore } from '../store/types.ts';
import { loadConfig, type Config } from './config.ts';
import { r2Unavailable, storeFromConfig, type FsStoreFactory } from './store-from-config.ts';
import { buildServices, type BuildOptions, type Services } from './services.ts';
import { systemDeps } from './system.ts';

export interface RuntimeTraits {
  /** Name for the start log line (`usageDb <name> started`). */
  readonly name: string;
  readonly write: (line: string, level: LogLevel) => void;
  /** The fs driver, where there is a local disk. */
  readonly fsStore?: FsStoreFactory;
  /** The R2 bucket binding, on Workers where one is bound (USAGEDB_STORE=r2 needs it). */
  readonly r2Bucket?: R2BucketBinding;
  /** Whether the API is reachable only from this machine (an open API is allowed only then). */
  readonly loopbackOnly: boolean;
  /** False on Workers: requests share data, never promises (see services.ts). */
  readonly crossRequestSharing: boolean;
  /** Whether each request comes with an ExecutionContext (Workers). */
  readonly executionContext?: boolean;
  /** Runtime-specific checks of the configuration (throw a ValidationError naming the variable). */
  readonly checkConfig?: (config: Config) => void;
  /** Wraps the store the configuration names (Node: a garbage collection after large read bursts). */
  readonly wrapStore?: (store: ObjectStore, logger: Logger) => ObjectStore;
}

export interface Instance {
  readonly services: Services;
  readonly config: Config;
  readonly logger: Logger;
}

/** Parses the configuration (throws a ValidationError naming the variable) with the runtime's checks. */
export function configure(env: Readonly<Record<string, string | undefined>>, rt: RuntimeTraits): Config {
  const config = loadConfig(env);
  rt.checkConfig?.(config);
  if (config.store.kind === 'r2' && rt.r2Bucket === undefined) throw r2Unavailable();
  return config;
}

/** `extra`: what the environment's strings cannot carry (a Worker's sequencer binding, Node's peer client, tuning). */
export async function boot(
  config: Config,
  rt: RuntimeTraits,
  extra: Pick<BuildOptions, 'sequencers' | 'tuning' | 'probe' | 'peerFetch'> = {},
): Promise<Instance> {
  const logger = jsonLogger(rt.write, config.logLevel);
  const built = storeFromConfig(config.store, rt.fsStore, rt.r2Bucket);
  const store = rt.wrapStore === undefined ? built : rt.wrapStore(built, logger);
  const services = await buildServices({
    config,
    store,
    deps: systemDeps(),
    logger,
    loopbackOnly: rt.loopbackOnly,
    crossRequestSharing: rt.crossRequestSharing,
    executionContext: rt.executionContext ?? false,
    ...extra,
  });
  const s = config.store;
  logger.info(`usageDb ${rt.name} started`, {
    store: s.kind,
    ...(s.kind === 'fs' ? { data_dir: s.dataDir } : {}),
    ...(s.kind === 's3' ? { bucket: s.bucket, endpoint: s.endpoint ?? 'aws' } : {}),
    prefix: config.prefix,
    db_id: services.db.info.db_id,
    api_keys: services.keys.map((k) => k.name),
  });
  if (s.simulatedKeyWriteLimit !== undefined) {
    logger.warn(
      'simulating R2 per-key write limit: a key written again sooner is refused with 429 (USAGEDB_SIMULATE_KEY_WRITE_INTERVAL_MS; for tests and benchmarks only)',
      {
        interval_ms: s.simulatedKeyWriteLimit.intervalMs,
        keys: s.simulatedKeyWriteLimit.keys ?? ['*'],
      },
    );
  }
  return { services, config, logger };
}

/**
 * Builds something once per process or isolate and keeps it as data: concurrent first callers
 * each build (on Workers one request must not await another's promise), the first finished is
 * kept; a failed build is not kept, so the next call retries.
 */
export function once<A extends unknown[], T>(build: (...args: A) => Promise<T>): (...args: A) => Promise<T> {
  let built: T | undefined;
  return async (...args) => {
    if (built !== undefined) return built;
    const b = await build(...args);
    built ??= b;
    return built;
  };
}
