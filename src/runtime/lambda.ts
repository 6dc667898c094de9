/**
 * AWS Lambda entry: the same Hono app behind API Gateway (REST or HTTP API), a Lambda function
 * URL or an ALB, through Hono's adapter. Services are built once per container, on the first
 * invocation, and kept in module scope (manifest and segment caches live as long as the
 * container); a failed start is not cached, the next invocation retries.
 *
 * Configuration comes from the function's environment variables, exactly as on Node. Stores:
 * s3 (the one for production: the state must outlive the container) or fs under /tmp
 * (USAGEDB_DATA_DIR defaults to /tmp/usagedb here; it is lost with the container, so only for
 * trials). The function is reachable from other machines, so USAGEDB_API_KEYS is required.
 *
 * Handlers: `handler` (HTTP) and `jobs` (an EventBridge schedule: `{"job": "rollup"}`, or any
 * event without a job, e.g. the default scheduled event, runs rollup, compact and gc).
 * Lambda runs JavaScript: bundle this file first (e.g. esbuild --bundle --platform=node
 * --format=esm), or use a runtime that strips TypeScript types.
 */
import { resolve, sep } from 'node:path';
import { handle, type APIGatewayProxyResult, type LambdaContext, type LambdaEvent } from 'hono/aws-lambda';
import { jsonLogger, type Logger } from '../api/observability.ts';
import { ValidationError } from '../errors.ts';
import { JOB_NAMES, runJob, type JobName, type JobReport } from '../jobs/run.ts';
import { FsStore } from '../store/fs.ts';
import { S3Store } from '../store/s3.ts';
import type { ObjectStore } from '../store/types.ts';
import { loadConfig, type Config } from './config.ts';
import { buildServices, type Services } from './services.ts';
import { systemDeps } from './system.ts';

const TMP = '/tmp';

interface Instance {
  readonly services: Services;
  readonly config: Config;
  readonly logger: Logger;
  readonly http: (event: LambdaEvent, context?: LambdaContext) => Promise<APIGatewayProxyResult>;
}

let instance: Promise<Instance> | undefined;

function write(line: string, level: string): void {
  (level === 'error' ? process.stderr : process.stdout).write(`${line}\n`);
}

function storeFor(config: Config): ObjectStore {
  const s = config.store;
  switch (s.kind) {
    case 's3':
      return new S3Store({
        bucket: s.bucket,
        endpoint: s.endpoint,
        region: s.region,
        accessKeyId: s.accessKeyId,
        secretAccessKey: s.secretAccessKey,
        forcePathStyle: s.forcePathStyle,
        requestTimeoutMs: s.timeoutMs,
      });
    case 'fs': {
      const root = resolve(s.dataDir);
      if (root !== TMP && !root.startsWith(TMP + sep)) {
        throw new ValidationError(`configuration: USAGEDB_DATA_DIR: on Lambda only ${TMP} is writable; use a directory under ${TMP} (it lasts as long as the container) or the s3 store`, 'USAGEDB_DATA_DIR');
      }
      return new FsStore({ root });
    }
    case 'memory':
      throw new ValidationError('configuration: USAGEDB_STORE: memory is not available on Lambda (each container would have its own database); use s3', 'USAGEDB_STORE');
  }
}

async function start(): Promise<Instance> {
  const env = { ...process.env };
  if (env.USAGEDB_DATA_DIR === undefined || env.USAGEDB_DATA_DIR === '') env.USAGEDB_DATA_DIR = `${TMP}/usagedb`;
  const config = loadConfig(env);
  const logger = jsonLogger(write, config.logLevel);
  const store = storeFor(config);
  if (config.store.kind === 'fs') logger.warn('fs store under /tmp: the database lives only as long as this container; use s3 for anything real', { data_dir: resolve(config.store.dataDir) });
  const services = await buildServices({ config, store, deps: systemDeps(), logger, loopbackOnly: false, publicMetrics: false });
  logger.info('usageDb lambda started', {
    store: config.store.kind,
    ...(config.store.kind === 's3' ? { bucket: config.store.bucket, endpoint: config.store.endpoint ?? 'aws' } : {}),
    prefix: config.prefix,
    db_id: services.db.info.db_id,
    api_keys: services.keys.map((k) => k.name),
  });
  return { services, config, logger, http: handle(services.app) };
}

function getInstance(): Promise<Instance> {
  if (instance === undefined) {
    const started = start();
    instance = started;
    started.catch((err: unknown) => {
      if (instance === started) instance = undefined;
      write(JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'failed to start', error: err instanceof Error ? err.message : String(err) }), 'error');
    });
  }
  return instance;
}

/** The HTTP handler (API Gateway v1/v2, function URLs, ALB). */
export async function handler(event: LambdaEvent, context?: LambdaContext): Promise<APIGatewayProxyResult> {
  const inst = await getInstance();
  const response = await inst.http(event, context);
  // Lambda freezes the container once the handler returns: finish ingest's history copies first.
  await inst.services.ingestor.idle();
  return response;
}

/** The jobs handler, for an EventBridge schedule. `{"job": "gc"}` runs one job; no job runs all. */
export async function jobs(event: { readonly job?: unknown } | null | undefined): Promise<JobReport[]> {
  const { services, config, logger } = await getInstance();
  const requested = event?.job;
  if (requested !== undefined && !(JOB_NAMES as readonly unknown[]).includes(requested)) {
    throw new ValidationError(`job: unknown job ${JSON.stringify(requested).slice(0, 32)}; use ${JOB_NAMES.join(', ')}`, 'job');
  }
  if (!config.jobs.enabled) {
    logger.info('scheduled jobs are disabled (USAGEDB_JOBS=false)');
    return [];
  }
  const reports: JobReport[] = [];
  for (const job of requested === undefined ? JOB_NAMES : [requested as JobName]) {
    const started = Date.now();
    const report = await runJob(services.db, job, services.jobOptions);
    const fields = { job, shards: report.shards, failed: report.failed, ms: Date.now() - started, results: report.results };
    if (report.failed > 0) logger.error('job failed on some shards', fields);
    else logger.info('job finished', fields);
    reports.push(report);
  }
  return reports;
}
