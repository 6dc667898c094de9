/**
 * AWS Lambda entry: the shared boot path behind API Gateway (REST or HTTP API), a function URL or
 * an ALB through Hono's adapter (`handler`), and an EventBridge schedule (`jobs`: `{"job":
 * "rollup"}`; no job runs all three). Services are built on the first invocation and kept for the
 * container. Stores: s3, or fs under /tmp for trials (lost with the container). The function is
 * reachable from other machines, so API keys are required. Bundle with `npm run build:lambda`.
 */
import { resolve, sep } from 'node:path';
import { handle, type APIGatewayProxyResult, type LambdaContext, type LambdaEvent } from 'hono/aws-lambda';
import { ValidationError } from '../errors.ts';
import { JOB_NAMES, type JobName, type JobReport } from '../jobs/run.ts';
import { FsStore } from '../store/fs.ts';
import { boot, configure, once, type RuntimeTraits } from './boot.ts';
import { runJobsLogged } from './jobs.ts';

const TMP = '/tmp';

const lambda: RuntimeTraits = {
  name: 'lambda',
  write: (line, level) => (level === 'error' ? process.stderr : process.stdout).write(`${line}\n`),
  fsStore: (dataDir) => new FsStore({ root: resolve(dataDir) }),
  loopbackOnly: false,
  crossRequestSharing: true,
  checkConfig(config) {
    if (config.peers !== undefined) {
      throw new ValidationError(
        'configuration: USAGEDB_PEER_URL: peering (one committer per shard among Node processes) is for Node servers only; a Lambda function is not reachable as a peer',
        'USAGEDB_PEER_URL',
      );
    }
    if (config.store.kind === 'memory') {
      throw new ValidationError(
        'configuration: USAGEDB_STORE: memory is not available on Lambda (each container would have its own database); use s3',
        'USAGEDB_STORE',
      );
    }
    if (config.store.kind === 'fs') {
      const root = resolve(config.store.dataDir);
      if (root !== TMP && !root.startsWith(TMP + sep)) {
        throw new ValidationError(
          `configuration: USAGEDB_DATA_DIR: on Lambda only ${TMP} is writable; use a directory under ${TMP} (it lasts as long as the container) or the s3 store`,
          'USAGEDB_DATA_DIR',
        );
      }
    }
  },
};

const instance = once(async () => {
  const env = { ...process.env };
  if (env.USAGEDB_DATA_DIR === undefined || env.USAGEDB_DATA_DIR === '') env.USAGEDB_DATA_DIR = `${TMP}/usagedb`;
  const inst = await boot(configure(env, lambda), lambda);
  if (inst.config.store.kind === 'fs') inst.logger.warn('fs store under /tmp: the database lives only as long as this container; use s3 for anything real');
  return { ...inst, http: handle(inst.services.app) };
});

async function started() {
  try {
    return await instance();
  } catch (err) {
    lambda.write(
      JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'failed to start', error: err instanceof Error ? err.message : String(err) }),
      'error',
    );
    throw err;
  }
}

/** The HTTP handler (API Gateway v1/v2, function URLs, ALB). */
export async function handler(event: LambdaEvent, context?: LambdaContext): Promise<APIGatewayProxyResult> {
  const inst = await started();
  const response = await inst.http(event, context);
  // Lambda freezes the container once the handler returns: finish ingest's history copies first.
  await inst.services.ingestor.idle();
  return response;
}

/** The jobs handler, for an EventBridge schedule. `{"job": "gc"}` runs one job; no job runs all. */
export async function jobs(event: { readonly job?: unknown } | null | undefined): Promise<JobReport[]> {
  const { services, config, logger } = await started();
  const requested = event?.job;
  if (requested !== undefined && !(JOB_NAMES as readonly unknown[]).includes(requested)) {
    throw new ValidationError(`job: unknown job ${JSON.stringify(requested).slice(0, 32)}; use ${JOB_NAMES.join(', ')}`, 'job');
  }
  if (!config.jobs.enabled) {
    logger.info('scheduled jobs are disabled (USAGEDB_JOBS=false)');
    return [];
  }
  return (await runJobsLogged(services, requested === undefined ? JOB_NAMES : [requested as JobName], logger)).reports;
}
