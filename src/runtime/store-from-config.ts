/**
 * Builds the ObjectStore a StoreConfig names (fs, memory or s3). Shared by the Node server and
 * the admin CLI; Node-only because the fs driver is. It has no side effects at import.
 */
import { resolve } from 'node:path';
import { FsStore } from '../store/fs.ts';
import { MemoryStore } from '../store/memory.ts';
import { S3Store } from '../store/s3.ts';
import type { ObjectStore } from '../store/types.ts';
import type { StoreConfig } from './config.ts';

export function storeFromConfig(cfg: StoreConfig): ObjectStore {
  switch (cfg.kind) {
    case 'fs':
      return new FsStore({ root: resolve(cfg.dataDir) });
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
      return `fs:${resolve(cfg.dataDir)}`;
    case 'memory':
      return 'memory';
    case 's3':
      return `s3://${cfg.bucket}${cfg.endpoint === undefined ? '' : ` at ${cfg.endpoint}`}`;
  }
}
