import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/runtime/config.ts';

describe('configuration from the environment', () => {
  it('defaults to the embedded fs store on 127.0.0.1:8787', () => {
    const c = loadConfig({});
    expect(c.store).toEqual({ kind: 'fs', dataDir: './data' });
    expect([c.host, c.port, c.prefix]).toEqual(['127.0.0.1', 8787, 'usagedb']);
    expect(c.newDatabase).toEqual({ shardCount: 1, bucketCount: 64 });
    expect(c.ingest.dedupeWindowMs).toBe(35 * 86_400_000);
    expect([c.ingest.maxBodyBytes, c.maxRequestBytes]).toEqual([8 * 1024 * 1024, 64 * 1024]);
  });

  it('jobs catch up for 60 s or 50 runs by default; USAGEDB_JOB_CATCH_UP_S and USAGEDB_JOB_MAX_RUNS set them, 0 s means one run per job', () => {
    expect(loadConfig({}).jobs.options.catchUp).toEqual({ ms: 60_000, maxRuns: 50 });
    expect(loadConfig({ USAGEDB_JOB_CATCH_UP_S: '0' }).jobs.options.catchUp).toEqual({ ms: 0, maxRuns: 50 });
    expect(loadConfig({ USAGEDB_JOB_MAX_RUNS: '7' }).jobs.options.catchUp?.maxRuns).toBe(7);
    expect(() => loadConfig({ USAGEDB_JOB_CATCH_UP_S: '-1' })).toThrow(/USAGEDB_JOB_CATCH_UP_S/);
  });

  it("compaction knows ingest's dedupe window (lean hashes past it); USAGEDB_STRIP_MAX_SEGMENTS bounds the strip step, 0 turns it off", () => {
    expect(loadConfig({}).jobs.options.compact?.dedupeWindowMs).toBe(35 * 86_400_000);
    expect(loadConfig({ USAGEDB_DEDUPE_WINDOW_HOURS: '48' }).jobs.options.compact?.dedupeWindowMs).toBe(48 * 3_600_000);
    expect(loadConfig({}).jobs.options.strip?.maxSegments).toBe(16);
    expect(loadConfig({ USAGEDB_STRIP_MAX_SEGMENTS: '0' }).jobs.options.strip?.maxSegments).toBe(0);
  });

  it('USAGEDB_ROLLUP_MAX_ROWS_PERCENT: a rollup is written only at most this share of its input rows (default half; 100: always)', () => {
    expect(loadConfig({}).jobs.options.rollup?.maxRowsRatio).toBe(0.5);
    expect(loadConfig({ USAGEDB_ROLLUP_MAX_ROWS_PERCENT: '100' }).jobs.options.rollup?.maxRowsRatio).toBe(1);
    expect(() => loadConfig({ USAGEDB_ROLLUP_MAX_ROWS_PERCENT: '0' })).toThrow(/USAGEDB_ROLLUP_MAX_ROWS_PERCENT/);
    expect(() => loadConfig({ USAGEDB_ROLLUP_MAX_ROWS_PERCENT: '101' })).toThrow(/USAGEDB_ROLLUP_MAX_ROWS_PERCENT/);
  });

  it('USAGEDB_MAX_REQUEST_BYTES sets the body limit of every route but ingest', () => {
    expect(loadConfig({ USAGEDB_MAX_REQUEST_BYTES: '1048576' }).maxRequestBytes).toBe(1_048_576);
  });

  it('a new database has as many shards as its store needs: 1 on a directory, S3 or MinIO, 16 on R2 (binding or S3 endpoint); USAGEDB_SHARDS wins', () => {
    const s3 = { USAGEDB_S3_BUCKET: 'usage', USAGEDB_S3_ACCESS_KEY_ID: 'a', USAGEDB_S3_SECRET_ACCESS_KEY: 'b' };
    expect(loadConfig({ USAGEDB_STORE: 'memory' }).newDatabase.shardCount).toBe(1);
    expect(loadConfig({ ...s3, USAGEDB_S3_ENDPOINT: 'http://127.0.0.1:9000' }).newDatabase.shardCount).toBe(1);
    expect(loadConfig(s3).newDatabase.shardCount).toBe(1);
    expect(loadConfig({ USAGEDB_STORE: 'r2' }).newDatabase.shardCount).toBe(16);
    expect(loadConfig({ ...s3, USAGEDB_S3_ENDPOINT: 'https://0123abcd.r2.cloudflarestorage.com' }).newDatabase.shardCount).toBe(16);
    expect(loadConfig({ ...s3, USAGEDB_SHARDS: '8' }).newDatabase.shardCount).toBe(8);
  });

  it('chooses s3 when a bucket is given, path-style when an endpoint is given', () => {
    const c = loadConfig({
      USAGEDB_S3_BUCKET: 'usage',
      USAGEDB_S3_ENDPOINT: 'http://127.0.0.1:9000',
      USAGEDB_S3_ACCESS_KEY_ID: 'a',
      USAGEDB_S3_SECRET_ACCESS_KEY: 'b',
    });
    expect(c.store).toMatchObject({ kind: 's3', bucket: 'usage', forcePathStyle: true, region: 'auto' });
  });

  const bad: [Record<string, string>, string][] = [
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ USAGEDB_STORE: 'redis' }, 'USAGEDB_STORE'],
    [{ USAGEDB_STORE: 's3' }, 'USAGEDB_S3_BUCKET'],
    [{ USAGEDB_S3_BUCKET: 'usage', USAGEDB_S3_ACCESS_KEY_ID: 'only-one' }, 'USAGEDB_S3_SECRET_ACCESS_KEY'],
    [{ USAGEDB_S3_ENDPOINT: 'not a url' }, 'USAGEDB_S3_ENDPOINT'],
    [{ USAGEDB_SHARDS: '0' }, 'USAGEDB_SHARDS'],
    [{ USAGEDB_SHARDS: '32', USAGEDB_BUCKETS: '16' }, 'USAGEDB_BUCKETS'],
    [{ USAGEDB_PREFIX: 'bad prefix!' }, 'USAGEDB_PREFIX'],
    [{ USAGEDB_DEDUPE_WINDOW_HOURS: '-1' }, 'USAGEDB_DEDUPE_WINDOW_HOURS'],
    [{ USAGEDB_JOBS: 'maybe' }, 'USAGEDB_JOBS'],
    [{ USAGEDB_LOG_LEVEL: 'loud' }, 'USAGEDB_LOG_LEVEL'],
    [{ USAGEDB_MAX_REQUEST_BYTES: '100' }, 'USAGEDB_MAX_REQUEST_BYTES'],
    [{ USAGEDB_MAX_REQUEST_BYTES: 'lots' }, 'USAGEDB_MAX_REQUEST_BYTES'],
  ];
  for (const [env, name] of bad) {
    it(`names ${name} when it is wrong (${JSON.stringify(env)})`, () => {
      expect(() => loadConfig(env)).toThrow(new RegExp(`^configuration: ${name}:`));
    });
  }
});

describe('configuration of a Worker', () => {
  const env = {
    USAGEDB_S3_BUCKET: 'usage',
    USAGEDB_S3_ENDPOINT: 'http://127.0.0.1:9000',
    USAGEDB_S3_ACCESS_KEY_ID: 'a',
    USAGEDB_S3_SECRET_ACCESS_KEY: 'b',
    USAGEDB_API_KEYS: 'k:0123456789abcdef:admin',
  };
  it('catches up with at most 4 runs per shard job (a cron invocation has a subrequest limit) unless USAGEDB_JOB_MAX_RUNS says otherwise', async () => {
    const { configFromEnv, workerTraits } = await import('../../src/runtime/worker-env.ts');
    expect(configFromEnv(env, workerTraits('worker', false, env)).jobs.options.catchUp?.maxRuns).toBe(4);
    const more = { ...env, USAGEDB_JOB_MAX_RUNS: '20' };
    expect(configFromEnv(more, workerTraits('worker', false, more)).jobs.options.catchUp?.maxRuns).toBe(20);
    // The strip step of the compact job: two requests per segment, four segments per shard.
    expect(configFromEnv(env, workerTraits('worker', false, env)).jobs.options.strip?.maxSegments).toBe(4);
  });

  it('holds a 32 MB segment cache (an isolate has 128 MB) unless USAGEDB_SEGMENT_CACHE_MB says otherwise', async () => {
    const { configFromEnv, workerTraits } = await import('../../src/runtime/worker-env.ts');
    expect(configFromEnv(env, workerTraits('worker', false, env)).query.cacheBytes).toBe(32 * 1024 * 1024);
    const more = { ...env, USAGEDB_SEGMENT_CACHE_MB: '48' };
    expect(configFromEnv(more, workerTraits('worker', false, more)).query.cacheBytes).toBe(48 * 1024 * 1024);
    expect(loadConfig({}).query.cacheBytes).toBe(256 * 1024 * 1024);
  });
});
