/**
 * The Hono app, the same on every runtime: built from the services, it knows no runtime.
 * Middleware order: `Connection: close` when the body was not read (Node), request id + access
 * log + metrics, CORS, auth (scopes), body limit (413), then routes; errors
 * go through `src/api/errors.ts` only (a broken client connection first becomes the client's
 * error there, so it never counts as a 5xx).
 */
import { Hono, type Context } from 'hono';
import { cors } from 'hono/cors';
import { consoleRoutes } from './console/index.ts';
import { RequestAbortedError } from '../errors.ts';
import { PEER_BYTES_PER_EVENT } from '../ingest/peer-wire.ts';
import type { Ingestor } from '../ingest/ingestor.ts';
import type { JobOptions } from '../jobs/run.ts';
import type { Database } from '../manifest/database.ts';
import { dbInfoKey } from '../manifest/keys.ts';
import type { PeriodService } from '../period/periods.ts';
import type { QueryEngine } from '../query/engine.ts';
import { DEFAULT_MAX_RANGE_MS } from '../query/time-range.ts';
import { authMiddleware, type ApiKey } from './auth.ts';
import { bodyLimits, closeWhenBodyUnread, DEFAULT_MAX_REQUEST_BYTES } from './body-limit.ts';
import type { AppEnv } from './env.ts';
import { connectionErrorOf, errorBody, logFieldsOf, toHttpError, type ConnectionState } from './errors.ts';
import { Metrics } from './metrics.ts';
import { requestContext, silentLogger, type Logger } from './observability.ts';
import { adminRoutes } from './routes/admin.ts';
import { docsRoutes } from './routes/docs.ts';
import { ingestRoutes } from './routes/ingest.ts';
import { peerRoutes, type PeerHost } from './routes/peer.ts';
import { periodRoutes } from './routes/periods.ts';
import { queryRoutes, type QueryRouteLimits } from './routes/query.ts';

export interface AppOptions {
  readonly db: Database;
  readonly ingestor: Ingestor;
  readonly engine: QueryEngine;
  readonly periods: PeriodService;
  readonly queryLimits?: Partial<QueryRouteLimits>;
  readonly metrics?: Metrics;
  /** No keys: an open API (the runtime decides whether that is allowed). */
  readonly keys?: readonly ApiKey[];
  readonly logger?: Logger;
  /** Origins allowed by CORS; none: no CORS headers. */
  readonly corsOrigins?: readonly string[];
  readonly publicMetrics?: boolean;
  /** Bounds for jobs run through the admin route. */
  readonly jobOptions?: JobOptions;
  /** Milliseconds /health waits for the store. */
  readonly healthTimeoutMs?: number;
  /** Body limit of every route but ingest (USAGEDB_MAX_REQUEST_BYTES; ingest has the ingestor's). */
  readonly maxRequestBytes?: number;
  /** Several Node processes on one bucket: the internal route peers forward a shard's events to. */
  readonly peer?: PeerHost;
  /** The runtime passes each request an ExecutionContext whose waitUntil outlives the answer (Workers). */
  readonly executionContext?: boolean;
}

export function createApp(opts: AppOptions): Hono<AppEnv> {
  const { db } = opts;
  const logger = opts.logger ?? silentLogger;
  const metrics = opts.metrics ?? new Metrics();
  const app = new Hono<AppEnv>();

  app.onError((err, c) => {
    const failure = connectionErrorOf(err, connectionOf(c));
    const http = toHttpError(failure);
    const fields = { request_id: c.get('requestId'), method: c.req.method, path: c.req.path, ...logFieldsOf(failure, http) };
    // Only server faults are errors; a client that went away is worth a line, a bad request is not.
    if (http.kind !== 'user') logger.error('request failed', fields);
    else if (failure instanceof RequestAbortedError) logger.info('request aborted by the client', fields);
    return c.json(http.body, http.status, http.headers);
  });
  app.notFound((c) => c.json(errorBody('not_found', `no route for ${c.req.method} ${c.req.path}`), 404));

  app.use('*', closeWhenBodyUnread());
  app.use('*', requestContext(logger, metrics, opts.executionContext ?? false));
  if (opts.corsOrigins !== undefined && opts.corsOrigins.length > 0) {
    app.use(
      '*',
      cors({ origin: [...opts.corsOrigins], allowHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'], exposeHeaders: ['X-Request-Id', 'Retry-After'] }),
    );
  }
  app.use('*', authMiddleware(opts.keys ?? [], opts.publicMetrics ?? false));
  // After auth: a caller without a key gets its 401 before any byte of its body is read.
  const ingestBytes = opts.ingestor.options.maxBodyBytes;
  app.use(
    '*',
    bodyLimits({
      ingestBytes,
      requestBytes: opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
      peerBytes: 2 * ingestBytes + opts.ingestor.options.maxEventsPerBatch * PEER_BYTES_PER_EVENT,
    }),
  );

  app.get('/health', async (c) => {
    const started = db.deps.clock.now();
    const timeoutMs = opts.healthTimeoutMs ?? 3_000;
    let storeOk = false;
    let problem: string | undefined;
    try {
      const head = await withTimeout(db.store.head(dbInfoKey(db.prefix)), timeoutMs);
      storeOk = head !== null;
      if (!storeOk) problem = 'db.json is missing';
    } catch (err) {
      problem = err instanceof Error && err.message === 'timeout' ? `no answer in ${timeoutMs} ms` : 'the store did not answer';
    }
    const body = {
      status: storeOk ? 'ok' : 'degraded',
      store: { kind: db.store.kind, ok: storeOk, latency_ms: db.deps.clock.now() - started, ...(problem ? { problem } : {}) },
      writable: db.probe.ok,
      ...(db.probe.ok ? {} : { write_problems: db.probe.problems }),
      database: { db_id: db.info.db_id, shards: db.info.shard_count, buckets: db.info.bucket_count },
    };
    return c.json(body, storeOk ? 200 : 503);
  });

  app.get('/metrics', (c) =>
    c.text(metrics.render({ shards: db.shards, cache: opts.engine.cache.stats(), ...(opts.peer === undefined ? {} : { peers: opts.peer.counters() }) }), 200, {
      'Content-Type': 'text/plain; version=0.0.4',
    }),
  );

  ingestRoutes(app, opts.ingestor);
  if (opts.peer !== undefined) peerRoutes(app, opts.peer);
  adminRoutes(app, db, metrics, opts.jobOptions ?? {});
  periodRoutes(app, opts.periods);
  queryRoutes(app, opts.engine, { maxPageSize: 1000, defaultPageSize: 100, maxRangeMs: DEFAULT_MAX_RANGE_MS, ...opts.queryLimits });
  docsRoutes(app);
  consoleRoutes(app, { db, engine: opts.engine, metrics, keys: opts.keys ?? [] });
  return app;
}

/**
 * The state of a failed request's connection: its abort signal (every runtime) and, on Node, the
 * HTTP parser's error on the socket (@hono/node-server passes the IncomingMessage as `env`).
 */
function connectionOf(c: Context<AppEnv>): ConnectionState {
  const env = c.env as { incoming?: { socket?: { errored?: { code?: unknown } | null } } } | undefined;
  const parserCode = env?.incoming?.socket?.errored?.code;
  return { clientGone: c.req.raw.signal?.aborted === true, parserErrorCode: typeof parserCode === 'string' ? parserCode : undefined };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), ms);
    }),
  ]);
}
