/**
 * Node entry: `npm start`. Serves the API on HOST:PORT (default 127.0.0.1:8787) with the
 * embedded fs store under USAGEDB_DATA_DIR (default ./data), or S3 when configured. Graceful
 * shutdown: stop accepting, let in-flight group commits finish, then exit.
 */
import { serve } from '@hono/node-server';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { jsonLogger } from '../api/observability.ts';
import { loadConfig } from './config.ts';
import { storeFromConfig } from './store-from-config.ts';
import { startScheduler } from './scheduler.ts';
import { buildServices } from './services.ts';
import { systemDeps } from './system.ts';

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '[::1]';
}

async function main(): Promise<void> {
  let logger = jsonLogger((line, level) => (level === 'error' ? process.stderr : process.stdout).write(`${line}\n`));
  try {
    const config = loadConfig(process.env);
    logger = jsonLogger((line, level) => (level === 'error' ? process.stderr : process.stdout).write(`${line}\n`), config.logLevel);
    const s = await buildServices({ config, store: storeFromConfig(config.store), deps: systemDeps(), logger, loopbackOnly: isLoopback(config.host) });
    const server = serve({ fetch: s.app.fetch, hostname: config.host, port: config.port }, (info) => {
      logger.info('usageDb listening', {
        url: `http://${config.host}:${info.port}`,
        store: config.store.kind,
        ...(config.store.kind === 'fs' ? { data_dir: resolve(config.store.dataDir) } : {}),
        ...(config.store.kind === 's3' ? { bucket: config.store.bucket, endpoint: config.store.endpoint ?? 'aws' } : {}),
        prefix: config.prefix,
        db_id: s.db.info.db_id,
        api_keys: s.keys.map((k) => k.name),
      });
    });
    const jobs = config.jobs.enabled
      ? startScheduler(s.db, { rollup: config.jobs.rollupIntervalMs, compact: config.jobs.compactIntervalMs, gc: config.jobs.gcIntervalMs }, logger, s.metrics, s.jobOptions)
      : undefined;
    const shutdown = (signal: string) => {
      logger.info('shutting down', { signal });
      server.close();
      void Promise.all([s.ingestor.idle(), jobs?.stop()]).then(() => process.exit(0));
      setTimeout(() => process.exit(0), 15_000).unref();
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  } catch (err) {
    logger.error('failed to start', { error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
}

await main();
