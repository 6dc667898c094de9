/**
 * A database: `db.json` (written once, If-None-Match) fixes the shard and bucket counts; one
 * ManifestStore per shard. Opening probes the store's conditional writes and refuses to write
 * on a store that ignores them.
 */
import { z } from 'zod';
import { StoreUnsafeError, ManifestCorruptError } from '../errors.ts';
import { isRejectedWrite, AmbiguousWriteError } from '../store/errors.ts';
import { probeConditionalWrites, type ProbeReport } from '../store/probe.ts';
import type { ObjectStore } from '../store/types.ts';
import { shardOfAccount, type Layout } from '../model/bucket.ts';
import { newId, type Deps } from '../model/deps.ts';
import type { CommitPolicy } from './backoff.ts';
import { dbInfoKey, scratchPrefix, ShardKeys } from './keys.ts';
import { ManifestStore, type ManifestStoreOptions, type Sequencer } from './manifest-store.ts';

export const DB_FORMAT = 1;

export const dbInfoSchema = z.object({
  format: z.literal(DB_FORMAT),
  db_id: z.string().min(1),
  shard_count: z.number().int().min(1).max(1024),
  bucket_count: z.number().int().min(1).max(65536),
  created_at_ms: z.number().int(),
});
export type DbInfo = z.infer<typeof dbInfoSchema>;

export interface OpenOptions {
  readonly store: ObjectStore;
  /** Database prefix inside the bucket ('' for the bucket root). */
  readonly prefix: string;
  readonly deps: Deps;
  /** Used only when the database does not exist yet. */
  readonly create?: { readonly shardCount?: number; readonly bucketCount?: number };
  /** Run the conditional-write probe (default true). */
  readonly probe?: boolean;
  readonly commitPolicy?: Partial<CommitPolicy>;
  /** Whether concurrent requests may share in-flight manifest loads (false on Workers). */
  readonly shareLoads?: boolean;
  /** Each shard's sequencer, if one serializes the shard's commits (see ManifestStore). */
  readonly sequencer?: (shard: number) => Sequencer;
  /** How each shard's manifest is split into parts (tests and benchmarks; defaults otherwise). */
  readonly parts?: ManifestStoreOptions['parts'];
}

export const DEFAULT_SHARDS = 16;
export const DEFAULT_BUCKETS = 64;

export class Database {
  readonly store: ObjectStore;
  readonly prefix: string;
  readonly info: DbInfo;
  readonly layout: Layout;
  readonly shards: readonly ManifestStore[];
  readonly probe: ProbeReport;
  readonly deps: Deps;

  private constructor(opts: OpenOptions, info: DbInfo, probe: ProbeReport) {
    this.store = opts.store;
    this.prefix = opts.prefix;
    this.info = info;
    this.deps = opts.deps;
    this.probe = probe;
    this.layout = { shardCount: info.shard_count, bucketCount: info.bucket_count };
    const writeGuard = () => {
      if (!probe.ok) {
        throw new StoreUnsafeError(`writes are refused: the store does not honour conditional writes (${probe.problems.join('; ')})`);
      }
    };
    this.shards = Array.from(
      { length: info.shard_count },
      (_, shard) =>
        new ManifestStore({
          store: opts.store,
          keys: new ShardKeys(opts.prefix, shard, info.shard_count),
          shard,
          deps: opts.deps,
          policy: opts.commitPolicy ?? {},
          ...(opts.parts === undefined ? {} : { parts: opts.parts }),
          writeGuard,
          shareLoads: opts.shareLoads ?? true,
          ...(opts.sequencer === undefined ? {} : { sequencer: opts.sequencer(shard) }),
        }),
    );
  }

  static async open(opts: OpenOptions): Promise<Database> {
    const probe = opts.probe === false ? { ok: true, problems: [] } : await probeConditionalWrites(opts.store, scratchPrefix(opts.prefix), newId(opts.deps));
    const info = await loadOrCreateInfo(opts, probe);
    return new Database(opts, info, probe);
  }

  shardOf(accountId: string): ManifestStore {
    return this.shards[shardOfAccount(accountId, this.layout)]!;
  }
}

async function loadOrCreateInfo(opts: OpenOptions, probe: ProbeReport): Promise<DbInfo> {
  const key = dbInfoKey(opts.prefix);
  for (let tries = 1; ; tries++) {
    const existing = await opts.store.get(key);
    if (existing !== null && !existing.notModified) return parseInfo(existing.body, key);
    if (!probe.ok) throw new StoreUnsafeError(`cannot create a database on a store that ignores preconditions: ${probe.problems.join('; ')}`);
    const info: DbInfo = {
      format: DB_FORMAT,
      db_id: newId(opts.deps),
      shard_count: opts.create?.shardCount ?? DEFAULT_SHARDS,
      bucket_count: opts.create?.bucketCount ?? DEFAULT_BUCKETS,
      created_at_ms: opts.deps.clock.now(),
    };
    if (info.bucket_count < info.shard_count) throw new Error('bucket count must be at least the shard count');
    try {
      await opts.store.put(key, new TextEncoder().encode(JSON.stringify(info)), { ifNoneMatch: '*', contentType: 'application/json' });
      return info;
    } catch (err) {
      // Someone created it first, or our answer was lost: read what is there.
      if (!(isRejectedWrite(err) || err instanceof AmbiguousWriteError) || tries >= 3) throw err;
    }
  }
}

function parseInfo(body: Uint8Array, key: string): DbInfo {
  try {
    return dbInfoSchema.parse(JSON.parse(new TextDecoder().decode(body)));
  } catch (err) {
    throw new ManifestCorruptError(`${key} is unreadable; the database cannot be opened`, { cause: err });
  }
}
