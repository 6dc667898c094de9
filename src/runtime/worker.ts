/**
 * Cloudflare Workers entry (`wrangler.toml`: main = "src/runtime/worker.ts"): the shared boot
 * path over the S3 driver pointed at R2 (or any S3-compatible store), or with USAGEDB_STORE=r2
 * over the native R2 bucket binding USAGEDB_R2 (`[[r2_buckets]]`), configured by `[vars]` and
 * secrets exactly like Node's environment. Services are built on the first request and kept as
 * isolate data; requests never share promises (workerd cancels a request whose promise another
 * settles), and each request's work after its answer goes to its own `ctx.waitUntil`. A Worker is
 * public, so API keys are required. Cron triggers run the jobs of CRON_JOBS.
 */
import { startFailure } from '../api/errors.ts';
import { ValidationError } from '../errors.ts';
import { JOB_NAMES, type JobName } from '../jobs/run.ts';
import { isR2Bucket } from '../store/r2-binding.ts';
import { boot, configure, once, type Instance, type RuntimeTraits } from './boot.ts';
import type { Config } from './config.ts';
import { runJobsLogged } from './jobs.ts';
import { R2_BINDING_NAME } from './store-from-config.ts';

/** Vars and secrets (every usageDb setting is a string), and the R2 bucket binding USAGEDB_R2. */
export interface Env {
  readonly [name: string]: unknown;
}

// Local versions of the Workers runtime types (@cloudflare/workers-types redeclares Request,
// Response and fetch, which clashes with @types/node in this project's one tsconfig).
export interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void;
  passThroughOnException(): void;
  readonly props: unknown;
}

export interface ScheduledController {
  readonly cron: string;
  readonly scheduledTime: number;
  noRetry(): void;
}

// Cron expression → jobs; kept in step with `[triggers] crons` in wrangler.toml. Any other → all.
export const CRON_JOBS: Readonly<Record<string, readonly JobName[]>> = {
  '*/1 * * * *': ['rollup'],
  '*/5 * * * *': ['compact'],
  '0 * * * *': ['gc'],
};

export function jobsForCron(cron: string): readonly JobName[] {
  return CRON_JOBS[cron.trim().replace(/\s+/g, ' ')] ?? JOB_NAMES;
}

const worker: RuntimeTraits = {
  name: 'worker',
  write: (line) => console.log(line),
  loopbackOnly: false,
  crossRequestSharing: false,
  checkConfig(config: Config) {
    if (config.store.kind !== 's3' && config.store.kind !== 'r2') {
      throw new ValidationError('configuration: USAGEDB_STORE: only s3 (R2 or any S3-compatible store) and r2 (the R2 bucket binding) are available on Workers', 'USAGEDB_STORE');
    }
    if (config.store.kind === 's3' && config.store.endpoint?.includes('<ACCOUNT_ID>') === true) {
      throw new ValidationError('configuration: USAGEDB_S3_ENDPOINT: still the placeholder from wrangler.toml; put your account id in https://<ACCOUNT_ID>.r2.cloudflarestorage.com (or override it in .dev.vars)', 'USAGEDB_S3_ENDPOINT');
    }
    if (config.apiKeys === undefined || config.apiKeys.trim() === '') {
      throw new ValidationError('configuration: USAGEDB_API_KEYS: a Worker is public, so API keys are required; set them with `wrangler secret put USAGEDB_API_KEYS` (see README)', 'USAGEDB_API_KEYS');
    }
  },
};

/** The Worker's traits with what its `env` binds: the R2 bucket, when there is one. */
function traitsOf(env: Env): RuntimeTraits {
  const bound = env[R2_BINDING_NAME];
  const r2Bucket = isR2Bucket(bound) ? bound : undefined;
  return {
    ...worker,
    ...(r2Bucket === undefined ? {} : { r2Bucket }),
    checkConfig(config: Config) {
      worker.checkConfig?.(config);
      if (config.store.kind === 'r2' && r2Bucket === undefined) {
        throw new ValidationError(
          `configuration: USAGEDB_STORE: r2 needs the R2 bucket binding ${R2_BINDING_NAME}, which this Worker does not have; add [[r2_buckets]] binding = "${R2_BINDING_NAME}" with your bucket_name to wrangler.toml (see README)`,
          'USAGEDB_STORE',
        );
      }
    },
  };
}

const instance = once((env: Env) => {
  const vars: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (typeof value === 'string') vars[name] = value;
  const traits = traitsOf(env);
  // s3 unless told otherwise: then loadConfig insists on USAGEDB_S3_BUCKET with its own message.
  return boot(configure({ USAGEDB_STORE: 's3', ...vars }, traits), traits);
});

function logStartFailure(err: unknown): void {
  console.log(JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'failed to start', error: err instanceof Error ? err.message : String(err) }));
}

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    let services: Instance['services'];
    try {
      ({ services } = await instance(env));
    } catch (err) {
      logStartFailure(err);
      const failure = startFailure(err);
      return Response.json(failure.body, { status: failure.status, headers: failure.headers });
    }
    return services.app.fetch(request, env, ctx);
  },

  scheduled(controller: ScheduledController, env: Env, ctx: ExecutionContext): void {
    const run = async () => {
      const { services, config, logger } = await instance(env).catch((err: unknown) => {
        logStartFailure(err);
        throw err;
      });
      if (!config.jobs.enabled) return logger.info('scheduled jobs are disabled (USAGEDB_JOBS=false)', { cron: controller.cron });
      const { failed } = await runJobsLogged(services, jobsForCron(controller.cron), logger, { cron: controller.cron });
      if (failed.length > 0) throw new Error(`scheduled jobs failed: ${failed.join(', ')}`);
    };
    ctx.waitUntil(run());
  },
};
