/**
 * Node entry: `npm start`. Serves the API on HOST:PORT (default 127.0.0.1:8787) with the embedded
 * fs store under USAGEDB_DATA_DIR (default ./data), or S3 when configured. A bad configuration
 * exits 1 at once; a store that does not answer at start does not: the server listens, answers
 * 503 (Retry-After) meanwhile, and retries with backoff. Graceful shutdown on SIGTERM/SIGINT:
 * stop accepting, release shard leases (USAGEDB_PEER_URL), let in-flight group commits, history
 * copies and job runs finish, then exit.
 */
import { serve } from '@hono/node-server';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { errorBody } from '../api/errors.ts';
import { jsonLogger } from '../api/observability.ts';
import { isUsageDbError, ValidationError } from '../errors.ts';
import { FsStore } from '../store/fs.ts';
import { boot, configure, type Instance, type RuntimeTraits } from './boot.ts';
import { gcAfterReadBursts } from './collect-after-reads.ts';
import type { Config } from './config.ts';
import { lingerBeforeClose } from './linger.ts';
import { nodePeerFetch } from './peer-fetch.ts';
import { startScheduler, type Scheduler } from './scheduler.ts';

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '[::1]';
}

const write: RuntimeTraits['write'] = (line, level) => (level === 'error' ? process.stderr : process.stdout).write(`${line}\n`);

function traits(config: Config): RuntimeTraits {
  const wrapStore = gcAfterReadBursts();
  return {
    name: 'node',
    write,
    fsStore: (dataDir) => new FsStore({ root: resolve(dataDir) }),
    loopbackOnly: isLoopback(config.host),
    crossRequestSharing: true,
    ...(wrapStore === undefined ? {} : { wrapStore }),
  };
}

/** Until the store answers: every request gets a 503 that says so, /health included. */
function starting(): Response {
  return Response.json(errorBody('store_unavailable', 'usageDb is starting: the store has not answered yet; retry shortly'), {
    status: 503,
    headers: { 'Retry-After': '2' },
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  let logger = jsonLogger(write);
  let config: Config;
  try {
    config = configure(process.env, { name: 'node', write, loopbackOnly: true, crossRequestSharing: true });
  } catch (err) {
    logger.error('failed to start', { error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
  logger = jsonLogger(write, config.logLevel);
  let inst: Instance | undefined;
  let jobs: Scheduler | undefined;
  const server = serve(
    { fetch: (req, env) => (inst === undefined ? starting() : inst.services.app.fetch(req, env)), hostname: config.host, port: config.port },
    (info) => logger.info('usageDb listening', { url: `http://${config.host}:${info.port}` }),
  );
  lingerBeforeClose(server);
  const shutdown = (signal: string) => {
    logger.info('shutting down', { signal });
    server.close();
    // Leases first: peers stop forwarding here and take the shards at once, not after expiry.
    const peers = inst?.services.peers;
    void Promise.all([peers?.leases.release(), inst?.services.ingestor.idle(), peers?.forwarder.idle(), jobs?.stop()]).then(() => process.exit(0));
    setTimeout(() => process.exit(0), 15_000).unref();
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));

  for (let attempt = 1; inst === undefined; attempt++) {
    try {
      inst = await boot(config, traits(config), config.peers === undefined ? {} : { peerFetch: nodePeerFetch() });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      // A configuration the store cannot fix: stop now. A store that did not answer: wait and retry.
      if (err instanceof ValidationError || !isUsageDbError(err)) {
        logger.error('failed to start', { error: message });
        process.exit(1);
      }
      const wait = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
      logger.warn('the store did not answer at start; retrying', { attempt, retry_in_ms: wait, error: message });
      await sleep(wait);
    }
  }
  if (config.jobs.enabled) {
    jobs = startScheduler(
      inst.services,
      { rollup: config.jobs.rollupIntervalMs, compact: config.jobs.compactIntervalMs, gc: config.jobs.gcIntervalMs },
      inst.logger,
    );
  }
}

await main();
