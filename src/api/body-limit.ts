/**
 * Request body bounds (issue 16 items 9 and 10). Every route has a body limit: the ingest route
 * USAGEDB_MAX_BODY_BYTES (8 MiB), every other route USAGEDB_MAX_REQUEST_BYTES (64 KiB; queries,
 * period close/reopen, admin). A body over its limit is answered 413 `payload_too_large` naming
 * the field (`body`) and the limit, without reading it: a Content-Length above the limit is refused
 * from the header alone, and a chunked body is read only until it passes the limit.
 *
 * An answer sent while the request body is still arriving (an early 413, a 401 before the body
 * was read) leaves bytes on the connection that the server will not parse as a next request:
 * @hono/node-server drains them for a while and then destroys the socket. So on Node such an answer
 * carries `Connection: close`, and a client never reuses a socket the server is about to close.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from './env.ts';
import { errorBody } from './errors.ts';

/** USAGEDB_MAX_REQUEST_BYTES default: the body limit of every route but ingest. */
export const DEFAULT_MAX_REQUEST_BYTES = 64 * 1024;

/** The routes (by method and path) whose body limit is not the default one. */
export const INGEST_ROUTE = { method: 'POST', path: '/v1/usage/batch' } as const;

/** The internal route a Node process forwards a shard's events to (api/routes/peer.ts). */
export const PEER_ROUTE_PREFIX = '/internal/v1/shards/';

export interface BodyLimits {
  /** POST /v1/usage/batch. */
  readonly ingestBytes: number;
  /** POST /internal/v1/shards/:shard/submit (a forwarded ingest's canonical events and hashes); ingest's when absent. */
  readonly peerBytes?: number;
  /** Every other route. */
  readonly requestBytes: number;
}

function tooLarge(c: Context<AppEnv>, max: number): Response {
  return c.json(errorBody('payload_too_large', `body: larger than ${max} bytes, the limit of this route`, { field: 'body', limit: max }), 413);
}

function limitOf(max: number): MiddlewareHandler<AppEnv> {
  return bodyLimit({ maxSize: max, onError: (c) => tooLarge(c, max) });
}

const DIGITS = /^\d{1,15}$/;

/**
 * One middleware for the whole app: the ingest limit on the ingest route, the request limit elsewhere.
 * A body with a Content-Length (and no Transfer-Encoding) is judged from the header alone, as
 * hono's bodyLimit does, but without touching `c.req.raw.body`: on Node that getter builds a
 * web-streams Request around the socket, and the body is then read through it (about a tenth of
 * a small ingest request's CPU) instead of straight from the socket by @hono/node-server. A
 * body without a length (chunked, HTTP/2 streams) goes through hono's bodyLimit, which counts it.
 */
export function bodyLimits(limits: BodyLimits): MiddlewareHandler<AppEnv> {
  const ingest = limitOf(limits.ingestBytes);
  const other = limitOf(limits.requestBytes);
  const peer = limitOf(limits.peerBytes ?? limits.ingestBytes);
  return (c, next) => {
    const post = c.req.method === 'POST';
    const isIngest = post && c.req.path === INGEST_ROUTE.path;
    const isPeer = post && !isIngest && c.req.path.startsWith(PEER_ROUTE_PREFIX);
    const length = c.req.header('content-length');
    if (length !== undefined && DIGITS.test(length) && c.req.header('transfer-encoding') === undefined) {
      const max = isIngest ? limits.ingestBytes : isPeer ? (limits.peerBytes ?? limits.ingestBytes) : limits.requestBytes;
      return Number(length) > max ? Promise.resolve(tooLarge(c, max)) : next();
    }
    return isIngest ? ingest(c, next) : isPeer ? peer(c, next) : other(c, next);
  };
}

/** What @hono/node-server passes as `env`: the Node request, whose `complete` says the body arrived. */
interface NodeEnv {
  readonly incoming?: { readonly complete?: boolean };
}

/**
 * On Node: `Connection: close` on any answer given before the request (body included) was
 * received in full. Other runtimes own their connections and pass no `incoming`.
 */
export function closeWhenBodyUnread(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    const incoming = (c.env as NodeEnv | undefined)?.incoming;
    if (incoming === undefined || incoming.complete !== false) return;
    try {
      c.res.headers.set('Connection', 'close');
    } catch {
      // Immutable headers (a Response passed through): copy it.
      const res = new Response(c.res.body, c.res);
      res.headers.set('Connection', 'close');
      c.res = res;
    }
  };
}
