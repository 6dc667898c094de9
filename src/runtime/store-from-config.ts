/**
 * Builds the ObjectStore a StoreConfig names. Safe to bundle for Workers: it imports no
 * runtime-specific driver; entry points with a local disk (Node, Lambda, the CLI) pass the fs
 * driver's factory, and without one the fs store is refused with a clear error.
 */
import { ValidationError } from '../errors.ts';
import { MemoryStore } from '../store/memory.ts';
import { S3Store } from '../store/s3.ts';
import type { ObjectStore } from '../store/types.ts';
import type { StoreConfig } from './config.ts';

/** Builds the fs store of a directory; only runtimes with a local disk have one. */
export type FsStoreFactory = (dataDir: string) => ObjectStore;

export function storeFromConfig(cfg: StoreConfig, fsStore?: FsStoreFactory): ObjectStore {
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
  }
}

/** A one-line description of where a store points, without credentials. */
export function describeStore(cfg: StoreConfig): string {
  switch (cfg.kind) {
    case 'fs':
      return `fs:${cfg.dataDir}`;
    case 'memory':
      return 'memory';
    case 's3':
      return `s3://${cfg.bucket}${cfg.endpoint === undefined ? '' : ` at ${cfg.endpoint}`}`;
  }
}
