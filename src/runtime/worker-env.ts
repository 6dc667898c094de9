/**
 * What the Worker and its shard sequencers (Durable Objects) share: the environment's shape, the
 * runtime traits, and the configuration read from vars and secrets.
 */
import { ValidationError } from '../errors.ts';
import { isR2Bucket } from '../store/r2-binding.ts';
import { configure, type RuntimeTraits } from './boot.ts';
import type { Config } from './config.ts';
import { R2_BINDING_NAME } from './store-from-config.ts';

/** Vars, secrets and bindings. Every usageDb setting is a string; other bindings are read by name. */
export interface Env {
  readonly [name: string]: unknown;
}

/**
 * The binding that makes each shard's Durable Object write and commit the shard for every isolate
 * (see sequencer.ts); without it each request commits on its own (the direct path).
 */
export const SEQUENCER_BINDING = 'USAGEDB_SEQUENCER';

/** The traits of a Worker or a sequencer with what its `env` binds: the R2 bucket, when there is one. */
export function workerTraits(name: string, crossRequestSharing: boolean, env: Env): RuntimeTraits {
  const bound = env[R2_BINDING_NAME];
  const r2Bucket = isR2Bucket(bound) ? bound : undefined;
  return {
    name,
    write: (line) => console.log(line),
    loopbackOnly: false,
    crossRequestSharing,
    executionContext: true,
    ...(r2Bucket === undefined ? {} : { r2Bucket }),
    checkConfig(config: Config) {
      if (config.store.kind !== 's3' && config.store.kind !== 'r2') {
        throw new ValidationError(
          'configuration: USAGEDB_STORE: only s3 (R2 or any S3-compatible store) and r2 (the R2 bucket binding) are available on Workers',
          'USAGEDB_STORE',
        );
      }
      if (config.store.kind === 's3' && config.store.endpoint?.includes('<ACCOUNT_ID>') === true) {
        throw new ValidationError(
          'configuration: USAGEDB_S3_ENDPOINT: still the placeholder from wrangler.toml; put your account id in https://<ACCOUNT_ID>.r2.cloudflarestorage.com (or override it in .dev.vars)',
          'USAGEDB_S3_ENDPOINT',
        );
      }
      if (config.store.kind === 'r2' && r2Bucket === undefined) {
        throw new ValidationError(
          `configuration: USAGEDB_STORE: r2 needs the R2 bucket binding ${R2_BINDING_NAME}, which this Worker does not have; add [[r2_buckets]] binding = "${R2_BINDING_NAME}" with your bucket_name to wrangler.toml (see README)`,
          'USAGEDB_STORE',
        );
      }
      if (config.peers !== undefined) {
        throw new ValidationError(
          'configuration: USAGEDB_PEER_URL: peering (one committer per shard among Node processes) is for Node servers only; on Workers each shard already has one committer, its Durable Object (USAGEDB_SEQUENCER)',
          'USAGEDB_PEER_URL',
        );
      }
      if (config.apiKeys === undefined || config.apiKeys.trim() === '') {
        throw new ValidationError(
          'configuration: USAGEDB_API_KEYS: a Worker is public, so API keys are required; set them with `wrangler secret put USAGEDB_API_KEYS` (see README)',
          'USAGEDB_API_KEYS',
        );
      }
    },
  };
}

/** The configuration from the environment's strings; s3 unless told otherwise. */
export function configFromEnv(env: Env, rt: RuntimeTraits): Config {
  const vars: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (typeof value === 'string') vars[name] = value;
  // s3 unless told otherwise: then loadConfig insists on USAGEDB_S3_BUCKET with its own message.
  // Defaults of a Worker: a cron invocation has a subrequest limit (1,000 on Workers Paid) and
  // one compaction run takes ~100-200: four catch-up runs per shard job, four segments stripped
  // of their hashes (two requests each); an isolate has 128 MB: a 32 MB segment cache.
  return configure({ USAGEDB_STORE: 's3', USAGEDB_JOB_MAX_RUNS: '4', USAGEDB_STRIP_MAX_SEGMENTS: '4', USAGEDB_SEGMENT_CACHE_MB: '32', ...vars }, rt);
}

export function logStartFailure(err: unknown): void {
  console.log(
    JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'failed to start', error: err instanceof Error ? err.message : String(err) }),
  );
}
