/**
 * `usagedb/stores` (a package entry): the object-store drivers and their one interface, for
 * programs that bring their own store to `createUsageDb` or check a bucket with the probe. Only
 * re-exports; the drivers themselves live in src/store/.
 */
export {
  AmbiguousWriteError,
  ConflictError,
  ObjectNotFoundError,
  PreconditionFailedError,
  StoreError,
  StoreRefusedError,
  TransientStoreError,
} from '../store/errors.ts';
export { FsStore, type FsStoreOptions } from '../store/fs.ts';
export { MemoryStore, type MemoryStoreOptions } from '../store/memory.ts';
export { probeConditionalWrites, type ProbeReport } from '../store/probe.ts';
export { S3Store, type S3StoreOptions } from '../store/s3.ts';
export {
  getBytes,
  listAll,
  type ByteRange,
  type GetOptions,
  type GetResult,
  type ListOptions,
  type ListPage,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
} from '../store/types.ts';
