/**
 * Request ids, structured JSON access logs and request metrics. An incoming X-Request-Id is
 * honoured when it looks like one; otherwise one is generated. Logs carry no headers or bodies,
 * so secrets never reach them.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { Background } from '../lib/background.ts';
import { routePath } from 'hono/route';
import type { AppEnv } from './env.ts';
import type { Metrics } from './metrics.ts';

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
export type LogLevel = keyof typeof LEVELS;

/** JSON-lines logger writing through `write` (stdout on Node, console on Workers). */
export function jsonLogger(write: (line: string, level: keyof typeof LEVELS) => void, min: keyof typeof LEVELS = 'info', now: () => number = Date.now): Logger {
  const log =
    (level: keyof typeof LEVELS) =>
    (msg: string, fields: LogFields = {}) => {
      if (LEVELS[level] < LEVELS[min]) return;
      write(JSON.stringify({ time: new Date(now()).toISOString(), level, msg, ...fields }), level);
    };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

export const silentLogger: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The request's own `waitUntil` where the runtime gives one (Workers). Hono throws where there is
 * none, and an exception per request was a visible CPU cost of small requests on Node: the
 * runtime says once (`executionContext`) whether to look.
 */
function requestWaitUntil(c: Context<AppEnv>): Background | undefined {
  let ctx: { waitUntil(p: Promise<unknown>): void };
  try {
    ctx = c.executionCtx;
  } catch {
    return undefined;
  }
  return (task) => ctx.waitUntil(task);
}

/** `executionContext`: the runtime passes each request an ExecutionContext (Workers). */
export function requestContext(logger: Logger, metrics: Metrics, executionContext = false): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const incoming = c.req.header('x-request-id');
    const id = incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    c.set('requestId', id);
    c.set('background', executionContext ? requestWaitUntil(c) : undefined);
    const started = performance.now();
    // Before the answer is made, so c.json folds it in: a header set on a finished answer makes
    // Hono rebuild it around its body stream, which @hono/node-server then writes chunk by chunk
    // (the slow path; a visible CPU cost of small requests).
    c.header('X-Request-Id', id);
    await next();
    const ms = performance.now() - started;
    // An answer built without the context (a Response returned as is, an error page) gets it now.
    if (c.res.headers.get('X-Request-Id') !== id) c.header('X-Request-Id', id);
    // The matched route pattern, not the raw path: bounded label cardinality, no account ids.
    const route = routePath(c, -1);
    metrics.observeRequest(c.req.method, route, c.res.status, ms);
    logger.info('request', {
      request_id: id,
      method: c.req.method,
      route,
      status: c.res.status,
      ms: Math.round(ms * 10) / 10,
      actor: c.get('actor') ?? null,
    });
  };
}
