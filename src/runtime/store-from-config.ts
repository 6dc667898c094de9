/**
 * Builds the ObjectStore a StoreConfig names. Safe to bundle for Workers: it imports no
 * runtime-specific driver; entry points with a local disk (Node, Lambda, the CLI) pass the fs
 * driver's factory, and without one the fs store is refused with a clear error. Likewise the R2
 * binding: only the Worker entry has one (from its `env`), so `r2` elsewhere is refused.
 * A simulated per-key write limit in the configuration wraps whichever store was built.
 */
import { ValidationError } from '../errors.ts';
import { withKeyWriteLimit } from '../store/key-write-limit.ts';
import { MemoryStore } from '../store/memory.ts';
import { R2BindingStore, type R2BucketBinding } from '../store/r2-binding.ts';
import { S3Store } from '../store/s3.ts';
import type { ObjectStore } from '../store/types.ts';
import type { StoreConfig } from './config.ts';

/** Builds the fs store of a directory; only runtimes with a local disk have one. */
export type FsStoreFactory = (dataDir: string) => ObjectStore;

/** The name of the R2 bucket binding the Worker reads (`[[r2_buckets]] binding` in wrangler.toml). */
export const R2_BINDING_NAME = 'USAGEDB_R2';

export function storeFromConfig(cfg: StoreConfig, fsStore?: FsStoreFactory, r2Bucket?: R2BucketBinding): ObjectStore {
  const store = backend(cfg, fsStore, r2Bucket);
  const limit = cfg.simulatedKeyWriteLimit;
  return limit === undefined ? store : withKeyWriteLimit(store, { intervalMs: limit.intervalMs, ...(limit.keys === undefined ? {} : { keys: limit.keys }) });
}

function backend(cfg: StoreConfig, fsStore: FsStoreFactory | undefined, r2Bucket: R2BucketBinding | undefined): ObjectStore {
  switch (cfg.kind) {
    case 'fs':
      if (fsStore === undefined) {
        throw new ValidationError('configuration: USAGEDB_STORE: fs needs a local disk, which this runtime does not have; use s3', 'USAGEDB_STORE');
      }
      return fsStore(cfg.dataDir);
    case 'memory':
      return new MemoryStore();
    case 's3':
      return new S3Store({
        bucket: cfg.bucket,
        endpoint: cfg.endpoint,
        region: cfg.region,
        accessKeyId: cfg.accessKeyId,
        secretAccessKey: cfg.secretAccessKey,
        forcePathStyle: cfg.forcePathStyle,
        requestTimeoutMs: cfg.timeoutMs,
      });
    case 'r2':
      if (r2Bucket === undefined) throw r2Unavailable();
      return new R2BindingStore(r2Bucket);
  }
}

/** `USAGEDB_STORE=r2` where there is no R2 binding: Node, Lambda, the CLI. */
export function r2Unavailable(): ValidationError {
  return new ValidationError(
    `configuration: USAGEDB_STORE: r2 is the R2 bucket binding (${R2_BINDING_NAME}) of Cloudflare Workers and exists only there; on Node, Lambda and the CLI use s3 with R2's S3 endpoint (USAGEDB_S3_ENDPOINT=https://<ACCOUNT_ID>.r2.cloudflarestorage.com)`,
    'USAGEDB_STORE',
  );
}

/** A one-line description of where a store points, without credentials. */
export function describeStore(cfg: StoreConfig): string {
  const limit = cfg.simulatedKeyWriteLimit === undefined ? '' : ` (simulated key write limit: ${cfg.simulatedKeyWriteLimit.intervalMs} ms)`;
  switch (cfg.kind) {
    case 'fs':
      return `fs:${cfg.dataDir}${limit}`;
    case 'memory':
      return `memory${limit}`;
    case 's3':
      return `s3://${cfg.bucket}${cfg.endpoint === undefined ? '' : ` at ${cfg.endpoint}`}${limit}`;
    case 'r2':
      return `r2 binding ${R2_BINDING_NAME}${limit}`;
  }
}
