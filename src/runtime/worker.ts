/**
 * Cloudflare Workers entry (`wrangler.toml`: main = "src/runtime/worker.ts"). The same Hono app
 * as on Node, over the S3 driver pointed at R2 (or any S3-compatible store) from vars and
 * secrets. Services are built once per isolate, on the first event, and kept in module scope:
 * the manifest and segment caches then live as long as the isolate does.
 *
 * Configuration: `[vars]` and secrets (`wrangler secret put`), all strings, read by loadConfig
 * exactly like Node's environment. Only the s3 store exists here (USAGEDB_STORE must be s3 or
 * unset). A Worker is public, so API keys are required: without USAGEDB_API_KEYS every request
 * gets a 500 naming the variable.
 *
 * Cron triggers (`[triggers] crons` in wrangler.toml) run the background jobs through runJob,
 * inside `ctx.waitUntil`; the expression → job table is CRON_JOBS below (every minute: rollup,
 * every five minutes: compact, hourly: gc; an expression not in the table runs all three).
 */
import { startFailure } from '../api/errors.ts';
import { jsonLogger, type Logger } from '../api/observability.ts';
import { ValidationError } from '../errors.ts';
import { JOB_NAMES, runJob, type JobName } from '../jobs/run.ts';
import { S3Store } from '../store/s3.ts';
import { loadConfig, type Config } from './config.ts';
import { buildServices, type Services } from './services.ts';
import { systemDeps } from './system.ts';

/** Vars and secrets. Every usageDb setting is a string; other bindings are ignored. */
export interface Env {
  readonly USAGEDB_S3_ENDPOINT?: string;
  readonly USAGEDB_S3_BUCKET?: string;
  readonly USAGEDB_S3_REGION?: string;
  readonly USAGEDB_PREFIX?: string;
  readonly USAGEDB_S3_ACCESS_KEY_ID?: string;
  readonly USAGEDB_S3_SECRET_ACCESS_KEY?: string;
  readonly USAGEDB_API_KEYS?: string;
  readonly [name: string]: unknown;
}

// Minimal local versions of the Workers runtime types (@cloudflare/workers-types redeclares
// Request, Response and fetch, which clashes with @types/node in this project's one tsconfig).
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

export interface ExportedHandler<E> {
  fetch?(request: Request, env: E, ctx: ExecutionContext): Response | Promise<Response>;
  scheduled?(controller: ScheduledController, env: E, ctx: ExecutionContext): void | Promise<void>;
}

// Cron expression → jobs; kept in step with `[triggers] crons` in wrangler.toml:
//   "*/1 * * * *" → rollup, "*/5 * * * *" → compact, "0 * * * *" → gc; any other → all three.
export const CRON_JOBS: Readonly<Record<string, readonly JobName[]>> = {
  '*/1 * * * *': ['rollup'],
  '*/5 * * * *': ['compact'],
  '0 * * * *': ['gc'],
};

export function jobsForCron(cron: string): readonly JobName[] {
  return CRON_JOBS[cron.trim().replace(/\s+/g, ' ')] ?? JOB_NAMES;
}

interface Instance {
  readonly services: Services;
  readonly config: Config;
  readonly logger: Logger;
}

/**
 * The isolate's services once built: data shared by every request. A request that finds none
 * builds its own (concurrent first requests each do; the first finished is kept), because a
 * start another request began is a promise this one must not await. A failed start is not kept.
 */
let instance: Instance | undefined;

async function getInstance(env: Env): Promise<Instance> {
  if (instance !== undefined) return instance;
  const built = await start(env);
  instance ??= built;
  return instance;
}

function stringVars(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (typeof value === 'string') out[name] = value;
  return out;
}

async function start(env: Env): Promise<Instance> {
  const vars = stringVars(env);
  const requested = vars.USAGEDB_STORE;
  if (requested !== undefined && requested !== '' && requested !== 's3') {
    throw new ValidationError(
      `configuration: USAGEDB_STORE: "${requested.slice(0, 16)}" is not available on Workers (no local disk, memory is per isolate); use s3 (R2 or any S3-compatible store) or leave it unset`,
      'USAGEDB_STORE',
    );
  }
  if (vars.USAGEDB_S3_ENDPOINT?.includes('<ACCOUNT_ID>') === true) {
    throw new ValidationError('configuration: USAGEDB_S3_ENDPOINT: still the placeholder from wrangler.toml; put your account id in https://<ACCOUNT_ID>.r2.cloudflarestorage.com (or override it in .dev.vars)', 'USAGEDB_S3_ENDPOINT');
  }
  // USAGEDB_STORE=s3 makes loadConfig insist on USAGEDB_S3_BUCKET with its own clear message.
  const config = loadConfig({ ...vars, USAGEDB_STORE: 's3' });
  if (config.store.kind !== 's3') throw new ValidationError('configuration: USAGEDB_STORE: only s3 is available on Workers', 'USAGEDB_STORE');
  if (config.apiKeys === undefined || config.apiKeys.trim() === '') {
    throw new ValidationError('configuration: USAGEDB_API_KEYS: a Worker is public, so API keys are required; set them with `wrangler secret put USAGEDB_API_KEYS` (see README)', 'USAGEDB_API_KEYS');
  }
  const logger = jsonLogger((line) => console.log(line), config.logLevel);
  const s3 = config.store;
  const store = new S3Store({
    bucket: s3.bucket,
    endpoint: s3.endpoint,
    region: s3.region,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    forcePathStyle: s3.forcePathStyle,
    requestTimeoutMs: s3.timeoutMs,
  });
  const services = await buildServices({
    config,
    store,
    deps: systemDeps(),
    logger,
    loopbackOnly: false,
    publicMetrics: false,
    crossRequestSharing: false,
  });
  logger.info('usageDb worker started', {
    store: 's3',
    bucket: s3.bucket,
    endpoint: s3.endpoint ?? 'aws',
    prefix: config.prefix,
    db_id: services.db.info.db_id,
    api_keys: services.keys.map((k) => k.name),
  });
  return { services, config, logger };
}

function logStartFailure(err: unknown): void {
  console.log(
    JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'failed to start', error: err instanceof Error ? err.message : String(err) }),
  );
}

function startFailureResponse(err: unknown): Response {
  // A configuration message is shown (it names the variable, never a secret); any other error
  // maps by its kind, with its details left to the log line logStartFailure wrote.
  const http = startFailure(err);
  return Response.json(http.body, { status: http.status, headers: http.headers });
}

async function runScheduled(cron: string, env: Env): Promise<void> {
  let inst: Instance;
  try {
    inst = await getInstance(env);
  } catch (err) {
    logStartFailure(err);
    throw err;
  }
  const { services, config, logger } = inst;
  if (!config.jobs.enabled) {
    logger.info('scheduled jobs are disabled (USAGEDB_JOBS=false)', { cron });
    return;
  }
  const failures: string[] = [];
  for (const job of jobsForCron(cron)) {
    const started = Date.now();
    try {
      const report = await runJob(services.db, job, services.jobOptions);
      const fields = { cron, job, shards: report.shards, failed: report.failed, ms: Date.now() - started, results: report.results };
      if (report.failed > 0) {
        failures.push(job);
        logger.error('job failed on some shards', fields);
      } else logger.info('job finished', fields);
    } catch (err) {
      failures.push(job);
      logger.error('job failed', { cron, job, ms: Date.now() - started, error: err instanceof Error ? err.message : String(err) });
    }
  }
  if (failures.length > 0) throw new Error(`scheduled jobs failed: ${failures.join(', ')}`);
}

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    let inst: Instance;
    try {
      inst = await getInstance(env);
    } catch (err) {
      logStartFailure(err);
      return startFailureResponse(err);
    }
    // Work a request leaves after its answer (history copies) goes to this request's waitUntil.
    return inst.services.app.fetch(request, env, ctx);
  },

  scheduled(controller: ScheduledController, env: Env, ctx: ExecutionContext): void {
    ctx.waitUntil(runScheduled(controller.cron, env));
  },
} satisfies ExportedHandler<Env>;
