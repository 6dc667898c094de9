/**
 * Node entry: `npm start`. Serves the API on HOST:PORT (default 127.0.0.1:8787) with the
 * embedded fs store under USAGEDB_DATA_DIR (default ./data), or S3 when configured.
 */
import { serve } from '@hono/node-server';
import { resolve } from 'node:path';
import { createApp } from '../api/app.ts';
import { isUsageDbError } from '../errors.ts';
import { Ingestor } from '../ingest/ingestor.ts';
import { PeriodService } from '../period/periods.ts';
import { QueryEngine } from '../query/engine.ts';
import { Database } from '../manifest/database.ts';
import { FsStore } from '../store/fs.ts';
import { MemoryStore } from '../store/memory.ts';
import { S3Store } from '../store/s3.ts';
import type { ObjectStore } from '../store/types.ts';
import { loadConfig, type StoreConfig } from './config.ts';
import { systemDeps } from './system.ts';

function log(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields });
  (level === 'error' ? process.stderr : process.stdout).write(`${line}\n`);
}

export function storeFromConfig(cfg: StoreConfig): ObjectStore {
  switch (cfg.kind) {
    case 'fs':
      return new FsStore({ root: resolve(cfg.dataDir) });
    case 'memory':
      return new MemoryStore();
    case 's3':
      return new S3Store({
        bucket: cfg.bucket,
        endpoint: cfg.endpoint,
        region: cfg.region,
        accessKeyId: cfg.accessKeyId,
        secretAccessKey: cfg.secretAccessKey,
        forcePathStyle: cfg.forcePathStyle,
        requestTimeoutMs: cfg.timeoutMs,
      });
  }
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const store = storeFromConfig(config.store);
  const db = await Database.open({ store, prefix: config.prefix, deps: systemDeps(), create: config.newDatabase });
  if (!db.probe.ok) log('error', 'the store ignores conditional writes: writes are refused', { problems: db.probe.problems });
  const ingestor = new Ingestor(db);
  const engine = new QueryEngine(db);
  const app = createApp({
    db,
    ingestor,
    engine,
    periods: new PeriodService(db, engine),
    logError: (err, ctx) => log('error', 'request failed', { ...ctx, error: err instanceof Error ? err.message : String(err) }),
  });
  const server = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, (info) => {
    log('info', 'usageDb listening', {
      url: `http://${config.host}:${info.port}`,
      store: config.store.kind,
      ...(config.store.kind === 'fs' ? { data_dir: resolve(config.store.dataDir) } : {}),
      ...(config.store.kind === 's3' ? { bucket: config.store.bucket, endpoint: config.store.endpoint ?? 'aws' } : {}),
      prefix: config.prefix,
      db_id: db.info.db_id,
    });
  });
  const shutdown = (signal: string) => {
    log('info', 'shutting down', { signal });
    // Stop accepting, let in-flight group commits finish, then exit.
    server.close();
    void ingestor.idle().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 10_000).unref();
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  log('error', 'failed to start', { error: isUsageDbError(err) ? err.message : err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
