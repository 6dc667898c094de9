/**
 * Cloudflare Workers entry (`wrangler.toml`: main = "src/runtime/worker.ts"): the shared boot
 * path over the S3 driver pointed at R2 (or any S3-compatible store), or with USAGEDB_STORE=r2
 * over the native R2 bucket binding USAGEDB_R2 (`[[r2_buckets]]`), configured by `[vars]` and
 * secrets exactly like Node's environment. Services are built on the first request and kept as
 * isolate data; requests never share promises (workerd cancels a request whose promise another
 * settles), and each request's work after its answer goes to its own `ctx.waitUntil`. A Worker is
 * public, so API keys are required. Cron triggers run the jobs of CRON_JOBS.
 *
 * With the USAGEDB_SEQUENCER binding (wrangler.toml), ingest and jobs' edits go to each shard's
 * sequencer (a Durable Object, sequencer.ts) that commits the shard at the store's pace for every
 * isolate; queries and period closes still read and commit here, conditionally.
 */
import { startFailure } from '../api/errors.ts';
import { JOB_NAMES, type JobName } from '../jobs/run.ts';
import { boot, once, type Instance } from './boot.ts';
import { runJobsLogged } from './jobs.ts';
import { isSequencerNamespace, sequencersOf } from './sequencer-client.ts';
import { configFromEnv, logStartFailure, SEQUENCER_BINDING, workerTraits, type Env } from './worker-env.ts';

// The main module exports only handlers and classes (workerd refuses other values).
export type { Env } from './worker-env.ts';
/** The shard sequencers' Durable Object class (wrangler.toml: `[[durable_objects.bindings]]`). */
export { ShardSequencer } from './sequencer.ts';

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

const instance = once((env: Env) => {
  const traits = workerTraits('worker', false, env);
  const config = configFromEnv(env, traits);
  const ns = env[SEQUENCER_BINDING];
  return boot(config, traits, isSequencerNamespace(ns) ? { sequencers: sequencersOf(ns, config.prefix) } : {});
});

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
