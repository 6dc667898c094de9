/**
 * Configuration from environment variables, validated by zod; every runtime uses it. A bad or
 * missing value fails at start with a message naming the variable, never quoting a secret's value
 * (SECRET_VARIABLES). Defaults are the README table.
 */
import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import type { JobOptions } from '../jobs/run.ts';
import { DAY_MS, HOUR_MS } from '../model/time.ts';

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const envSchema = z.object({
  USAGEDB_STORE: z.enum(['fs', 's3', 'memory', 'r2']).optional(),
  USAGEDB_DATA_DIR: z.string().min(1).default('./data'),
  USAGEDB_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._\-/]*$/, 'letters, digits, . _ - / only')
    .default('usagedb'),
  USAGEDB_S3_ENDPOINT: z.url().optional(),
  // Unset: "auto" with an endpoint (R2, MinIO), else AWS_REGION, else us-east-1 (AWS S3 has no "auto").
  USAGEDB_S3_REGION: z.string().min(1).optional(),
  AWS_REGION: z.string().min(1).optional(),
  USAGEDB_S3_BUCKET: z.string().min(3).max(63).optional(),
  // A pasted line break in a credential would only show later as a refused signature.
  USAGEDB_S3_ACCESS_KEY_ID: z.string().regex(/^\S+$/).optional(),
  USAGEDB_S3_SECRET_ACCESS_KEY: z.string().regex(/^\S+$/).optional(),
  USAGEDB_S3_FORCE_PATH_STYLE: bool.optional(),
  USAGEDB_S3_TIMEOUT_MS: int(100, 300_000).default(15_000),
  USAGEDB_SHARDS: int(1, 1024).optional(),
  USAGEDB_BUCKETS: int(1, 65536).default(64),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(0, 65535).default(8787),
  USAGEDB_API_KEYS: z.string().optional(),
  USAGEDB_DEDUPE_WINDOW_HOURS: int(1, 24 * 90).default(840),
  USAGEDB_GROUP_COMMIT_MS: int(0, 1000).default(0),
  USAGEDB_GROUP_COMMIT_GATHER_MS: int(0, 1000).default(30),
  USAGEDB_SEQUENCER_INTERVAL_MS: int(0, 60_000).default(1000),
  // Several Node processes on one bucket: one committer per shard (runtime/peer-forwarder.ts).
  USAGEDB_PEER_URL: z
    .url({ protocol: /^https?$/ })
    .refine((u) => !/[?#]/.test(u), 'a base URL without query or fragment, e.g. http://10.0.0.5:8787')
    .transform((u) => u.replace(/\/+$/, ''))
    .optional(),
  USAGEDB_PEER_TOKEN: z
    .string()
    .regex(/^\S{32,}$/)
    .optional(),
  USAGEDB_LEASE_MS: int(1000, 600_000).default(10_000),
  USAGEDB_PEER_TIMEOUT_MS: int(100, 300_000).default(30_000),
  USAGEDB_MAX_BODY_BYTES: int(1024, 64 * 1024 * 1024).default(8 * 1024 * 1024),
  USAGEDB_MAX_BATCH_EVENTS: int(1, 100_000).default(10_000),
  USAGEDB_MAX_REQUEST_BYTES: int(1024, 64 * 1024 * 1024).default(64 * 1024),
  USAGEDB_SEGMENT_CACHE_MB: int(1, 64 * 1024).default(256),
  USAGEDB_MAX_QUERY_DAYS: int(1, 3660).default(400),
  USAGEDB_MAX_PAGE_SIZE: int(1, 100_000).default(1000),
  USAGEDB_CORS_ORIGINS: z.string().optional(),
  USAGEDB_JOBS: bool.default(true),
  USAGEDB_ROLLUP_INTERVAL_S: int(1, 86_400).default(60),
  USAGEDB_COMPACT_INTERVAL_S: int(1, 86_400).default(300),
  USAGEDB_GC_INTERVAL_S: int(1, 7 * 86_400).default(3600),
  USAGEDB_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  USAGEDB_COMPACT_MAX_SEGMENTS: int(2, 10_000).default(64),
  USAGEDB_ROLLUP_MAX_SEGMENTS: int(1, 10_000).default(64),
  /** A rollup is written only if it holds at most this percentage of its input rows; else its inputs are marked sparse (100: always). */
  USAGEDB_ROLLUP_MAX_ROWS_PERCENT: int(1, 100).default(50),
  USAGEDB_GC_MAX_DELETES: int(1, 1_000_000).default(1000),
  /** Compacted segments past the dedupe window rewritten without hashes per shard per compact job (0: none). */
  USAGEDB_STRIP_MAX_SEGMENTS: int(0, 10_000).default(16),
  USAGEDB_JOB_CONCURRENCY: int(1, 64).default(4),
  USAGEDB_JOB_CATCH_UP_S: int(0, 3_600).default(60),
  USAGEDB_JOB_MAX_RUNS: int(1, 1_000).default(50),
  USAGEDB_COMPACT_GRACE_S: int(0, 7 * 86_400).default(900),
  USAGEDB_GC_SAFETY_AGE_S: int(60, 30 * 86_400).default(3600),
  /** How long a replaced generation stays restorable (`manifest restore`), at most its last 50. */
  USAGEDB_HISTORY_KEEP_HOURS: int(1, 366 * 24).default(24),
  // Tests and benchmarks only: R2's per-key write limit simulated on any store (store/key-write-limit.ts).
  USAGEDB_SIMULATE_KEY_WRITE_INTERVAL_MS: int(1, 60_000).optional(),
  USAGEDB_SIMULATE_KEY_WRITE_KEYS: z
    .string()
    .transform((v) => v.split(',').map((p) => p.trim()))
    .refine((ps) => ps.every((p) => p !== ''), 'comma-separated key patterns (`*` matches any characters), none empty')
    .optional(),
});

/** Variables holding secrets: no configuration message ever echoes their values. */
export const SECRET_VARIABLES: ReadonlySet<string> = new Set([
  'USAGEDB_S3_ACCESS_KEY_ID',
  'USAGEDB_S3_SECRET_ACCESS_KEY',
  'USAGEDB_API_KEYS',
  'USAGEDB_PEER_TOKEN',
]);

/** R2's per-key write limit simulated over the store (tests and benchmarks only). */
export interface SimulatedKeyWriteLimit {
  readonly intervalMs: number;
  /** Key patterns (`*` = any characters); every key when absent. */
  readonly keys: readonly string[] | undefined;
}

export type StoreConfig = (
  | { readonly kind: 'fs'; readonly dataDir: string }
  | { readonly kind: 'memory' }
  | {
      readonly kind: 's3';
      readonly bucket: string;
      readonly endpoint: string | undefined;
      readonly region: string;
      readonly accessKeyId: string | undefined;
      readonly secretAccessKey: string | undefined;
      readonly forcePathStyle: boolean;
      readonly timeoutMs: number;
    }
  /** The Workers R2 bucket binding USAGEDB_R2 (Workers only; the bucket is named in wrangler.toml). */
  | { readonly kind: 'r2' }
) & { readonly simulatedKeyWriteLimit?: SimulatedKeyWriteLimit };

export interface Config {
  readonly store: StoreConfig;
  readonly prefix: string;
  readonly newDatabase: { readonly shardCount: number; readonly bucketCount: number };
  readonly host: string;
  readonly port: number;
  /** Raw USAGEDB_API_KEYS (parsed and validated by src/api/auth.ts). */
  readonly apiKeys: string | undefined;
  readonly ingest: {
    readonly dedupeWindowMs: number;
    readonly groupCommitWindowMs: number;
    readonly gatherMaxMs: number;
    readonly maxBodyBytes: number;
    readonly maxEventsPerBatch: number;
  };
  readonly query: { readonly cacheBytes: number; readonly maxRangeMs: number; readonly maxPageSize: number };
  /** Body limit of every route but ingest (queries, periods, admin); ingest has `ingest.maxBodyBytes`. */
  readonly maxRequestBytes: number;
  /** Workers with the sequencer binding: least time between two commits of one shard's sequencer. */
  readonly sequencerIntervalMs: number;
  /**
   * Node processes sharing one bucket: this process's base URL as the others reach it, the shared
   * secret of the internal route, how long a shard lease lasts, and how long a forwarded call may
   * take. Undefined (USAGEDB_PEER_URL unset): every process commits every shard itself.
   */
  readonly peers: { readonly url: string; readonly token: string; readonly leaseMs: number; readonly timeoutMs: number } | undefined;
  readonly corsOrigins: readonly string[];
  readonly jobs: {
    readonly enabled: boolean;
    readonly rollupIntervalMs: number;
    readonly compactIntervalMs: number;
    readonly gcIntervalMs: number;
    /** Bounds of one run (every entry point: cron, scheduler, admin route, CLI). */
    readonly options: JobOptions;
  };
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/**
 * Shards of a new database when USAGEDB_SHARDS is not set, by how many writes per second one key
 * of the store takes. A local directory, memory, S3 and MinIO take many: 1 shard, so every commit
 * carries the most events and instances race on one manifest instead of on every shard's
 * (measured on MinIO, 100-event batches x 8: 1 shard 8.1k events/s, 4 shards 3.1k). R2 takes
 * about one (16, so that a fleet can commit 16 times a second): the R2 binding, or an S3 endpoint
 * on r2.cloudflarestorage.com. An existing database keeps the count in its db.json.
 */
export function defaultShards(store: StoreConfig): number {
  if (store.kind === 'r2') return 16;
  if (store.kind !== 's3') return 1;
  return store.endpoint?.includes('r2.cloudflarestorage.com') === true ? 16 : 1;
}

/** Parses the environment; throws a ValidationError naming the first bad variable. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const parsed = envSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0] ?? 'environment');
    // A validator's message may quote the value; a secret's is never shown, not even in part.
    const message =
      name === 'USAGEDB_PEER_TOKEN'
        ? 'must be at least 32 characters without spaces or line breaks (the value is not shown)'
        : SECRET_VARIABLES.has(name)
          ? 'must be one word without spaces or line breaks (the value is not shown)'
          : issue.message;
    throw new ValidationError(`configuration: ${name}: ${message}`, name);
  }
  const e = parsed.data;
  const kind = e.USAGEDB_STORE ?? (e.USAGEDB_S3_BUCKET !== undefined ? 's3' : 'fs');
  let store: StoreConfig;
  if (kind === 's3') {
    if (e.USAGEDB_S3_BUCKET === undefined) throw new ValidationError('configuration: USAGEDB_S3_BUCKET: required when USAGEDB_STORE=s3', 'USAGEDB_S3_BUCKET');
    if ((e.USAGEDB_S3_ACCESS_KEY_ID === undefined) !== (e.USAGEDB_S3_SECRET_ACCESS_KEY === undefined)) {
      const missing = e.USAGEDB_S3_ACCESS_KEY_ID === undefined ? 'USAGEDB_S3_ACCESS_KEY_ID' : 'USAGEDB_S3_SECRET_ACCESS_KEY';
      throw new ValidationError(`configuration: ${missing}: required with the other S3 credential`, missing);
    }
    store = {
      kind,
      bucket: e.USAGEDB_S3_BUCKET,
      endpoint: e.USAGEDB_S3_ENDPOINT,
      region: e.USAGEDB_S3_REGION ?? (e.USAGEDB_S3_ENDPOINT !== undefined ? 'auto' : (e.AWS_REGION ?? 'us-east-1')),
      accessKeyId: e.USAGEDB_S3_ACCESS_KEY_ID,
      secretAccessKey: e.USAGEDB_S3_SECRET_ACCESS_KEY,
      forcePathStyle: e.USAGEDB_S3_FORCE_PATH_STYLE ?? e.USAGEDB_S3_ENDPOINT !== undefined,
      timeoutMs: e.USAGEDB_S3_TIMEOUT_MS,
    };
  } else {
    store = kind === 'fs' ? { kind, dataDir: e.USAGEDB_DATA_DIR } : { kind };
  }
  if (e.USAGEDB_SIMULATE_KEY_WRITE_KEYS !== undefined && e.USAGEDB_SIMULATE_KEY_WRITE_INTERVAL_MS === undefined) {
    throw new ValidationError(
      'configuration: USAGEDB_SIMULATE_KEY_WRITE_KEYS: only with USAGEDB_SIMULATE_KEY_WRITE_INTERVAL_MS (the simulated limit is off without it)',
      'USAGEDB_SIMULATE_KEY_WRITE_KEYS',
    );
  }
  if (e.USAGEDB_SIMULATE_KEY_WRITE_INTERVAL_MS !== undefined) {
    store = { ...store, simulatedKeyWriteLimit: { intervalMs: e.USAGEDB_SIMULATE_KEY_WRITE_INTERVAL_MS, keys: e.USAGEDB_SIMULATE_KEY_WRITE_KEYS } };
  }
  if (e.USAGEDB_PEER_URL !== undefined && e.USAGEDB_PEER_TOKEN === undefined) {
    throw new ValidationError(
      'configuration: USAGEDB_PEER_TOKEN: required with USAGEDB_PEER_URL (a shared secret of at least 32 characters, the same on every process)',
      'USAGEDB_PEER_TOKEN',
    );
  }
  const shards = e.USAGEDB_SHARDS ?? defaultShards(store);
  if (e.USAGEDB_BUCKETS < shards) throw new ValidationError('configuration: USAGEDB_BUCKETS: must be at least USAGEDB_SHARDS', 'USAGEDB_BUCKETS');
  return {
    store,
    prefix: e.USAGEDB_PREFIX,
    newDatabase: { shardCount: shards, bucketCount: e.USAGEDB_BUCKETS },
    host: e.HOST,
    port: e.PORT,
    apiKeys: e.USAGEDB_API_KEYS,
    ingest: {
      dedupeWindowMs: e.USAGEDB_DEDUPE_WINDOW_HOURS * HOUR_MS,
      groupCommitWindowMs: e.USAGEDB_GROUP_COMMIT_MS,
      gatherMaxMs: e.USAGEDB_GROUP_COMMIT_GATHER_MS,
      maxBodyBytes: e.USAGEDB_MAX_BODY_BYTES,
      maxEventsPerBatch: e.USAGEDB_MAX_BATCH_EVENTS,
    },
    query: { cacheBytes: e.USAGEDB_SEGMENT_CACHE_MB * 1024 * 1024, maxRangeMs: e.USAGEDB_MAX_QUERY_DAYS * DAY_MS, maxPageSize: e.USAGEDB_MAX_PAGE_SIZE },
    maxRequestBytes: e.USAGEDB_MAX_REQUEST_BYTES,
    sequencerIntervalMs: e.USAGEDB_SEQUENCER_INTERVAL_MS,
    peers:
      e.USAGEDB_PEER_URL === undefined || e.USAGEDB_PEER_TOKEN === undefined
        ? undefined
        : { url: e.USAGEDB_PEER_URL, token: e.USAGEDB_PEER_TOKEN, leaseMs: e.USAGEDB_LEASE_MS, timeoutMs: e.USAGEDB_PEER_TIMEOUT_MS },
    corsOrigins: (e.USAGEDB_CORS_ORIGINS ?? '')
      .split(',')
      .map((o) => o.trim())
      .filter((o) => o !== ''),
    jobs: {
      enabled: e.USAGEDB_JOBS,
      rollupIntervalMs: e.USAGEDB_ROLLUP_INTERVAL_S * 1000,
      compactIntervalMs: e.USAGEDB_COMPACT_INTERVAL_S * 1000,
      gcIntervalMs: e.USAGEDB_GC_INTERVAL_S * 1000,
      options: {
        concurrency: e.USAGEDB_JOB_CONCURRENCY,
        catchUp: { ms: e.USAGEDB_JOB_CATCH_UP_S * 1000, maxRuns: e.USAGEDB_JOB_MAX_RUNS },
        compact: {
          maxInputSegments: e.USAGEDB_COMPACT_MAX_SEGMENTS,
          graceMs: e.USAGEDB_COMPACT_GRACE_S * 1000,
          // Rows past the window are written (and rewritten) without hashes: the window ingest uses.
          dedupeWindowMs: e.USAGEDB_DEDUPE_WINDOW_HOURS * HOUR_MS,
        },
        strip: { maxSegments: e.USAGEDB_STRIP_MAX_SEGMENTS },
        rollup: {
          maxInputSegments: e.USAGEDB_ROLLUP_MAX_SEGMENTS,
          graceMs: e.USAGEDB_COMPACT_GRACE_S * 1000,
          maxRowsRatio: e.USAGEDB_ROLLUP_MAX_ROWS_PERCENT / 100,
        },
        gc: { maxDeletes: e.USAGEDB_GC_MAX_DELETES, safetyAgeMs: e.USAGEDB_GC_SAFETY_AGE_S * 1000, historyKeepMs: e.USAGEDB_HISTORY_KEEP_HOURS * HOUR_MS },
        idReuse: { windowMs: e.USAGEDB_DEDUPE_WINDOW_HOURS * HOUR_MS },
      },
    },
    logLevel: e.USAGEDB_LOG_LEVEL,
  };
}
