/**
 * A client that goes away mid-request, or sends a chunked body the HTTP parser refuses, is not a
 * server fault: over a real socket to the Node server (@hono/node-server, as `npm start` runs
 * it), such requests are counted as 499 or 400 in /metrics, never as a 5xx, and the log has no
 * error-level "request failed" line; the server keeps answering.
 */
import { serve, type ServerType } from '@hono/node-server';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.ts';
import { connectionErrorOf, toHttpError } from '../../src/api/errors.ts';
import { Metrics } from '../../src/api/metrics.ts';
import { RequestAbortedError, ValidationError } from '../../src/errors.ts';
import { TransientStoreError } from '../../src/store/errors.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance } from '../support/instance.ts';
import { capturingLogger } from '../support/logger.ts';

const logger = capturingLogger();
const metrics = new Metrics();
let server: ServerType;
let port: number;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  const inst = await openInstance(new MemoryStore(), 'db');
  app = createApp({ db: inst.db, ingestor: inst.ingestor, engine: inst.engine, periods: inst.periods, logger, metrics });
  await new Promise<void>((resolve) => {
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

/**
 * Sends `head` + `body` on a raw connection, then either ends it the way `how` says or waits for
 * the server to close it; answers what the client received.
 */
function raw(head: string, body: string, how: 'close' | 'reset' | 'wait'): Promise<string> {
  return new Promise((resolve) => {
    let received = '';
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(head + body);
      if (how === 'close') setTimeout(() => socket.destroy(), 50);
      if (how === 'reset') setTimeout(() => socket.resetAndDestroy(), 50);
    });
    socket.on('data', (d) => (received += d.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(received));
  });
}

const chunked = (path: string) =>
  `POST ${path} HTTP/1.1\r\nHost: usagedb.test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nX-Request-Id: abort-test\r\n\r\n`;

/** usagedb_http_requests_total by (route, status) from GET /metrics. */
async function counts(): Promise<Map<string, number>> {
  const text = await (await app.request('/metrics')).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^usagedb_http_requests_total\{method="[A-Z]+",route="([^"]+)",status="(\d+)"\} (\d+)$/gm)) {
    out.set(`${m[1]} ${m[2]}`, (out.get(`${m[1]} ${m[2]}`) ?? 0) + Number(m[3]));
  }
  return out;
}

/** Waits until /metrics counts `n` more requests of `route` with `status` than `before`. */
async function counted(before: Map<string, number>, route: string, status: number, n = 1): Promise<void> {
  const key = `${route} ${status}`;
  for (let i = 0; i < 200; i++) {
    if (((await counts()).get(key) ?? 0) - (before.get(key) ?? 0) >= n) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no ${key} in /metrics: ${JSON.stringify([...(await counts())])}`);
}

describe('aborted and malformed requests are the client’s, not 5xx', () => {
  it('a client that closes the connection mid chunked body is counted as 499 and logged at info', async () => {
    const before = await counts();
    const lines = logger.lines.length;
    await raw(chunked('/v1/usage/batch'), '14\r\n{"events": [{"event_', 'close');
    await raw(chunked('/v1/query/json'), '5\r\n{"sou\r\n', 'close');
    await counted(before, '/v1/usage/batch', 499);
    await counted(before, '/v1/query/json', 499);
    const mine = logger.lines.slice(lines);
    expect(mine.filter((l) => l.msg === 'request aborted by the client')).toHaveLength(2);
    expect(mine.find((l) => l.msg === 'request aborted by the client')).toMatchObject({
      level: 'info',
      fields: { request_id: 'abort-test', code: 'client_closed_request' },
    });
  });

  it('a connection reset mid body, and a Content-Length body cut short, are 499 too', async () => {
    const before = await counts();
    await raw(chunked('/v1/usage/batch'), '40\r\n{"events": [', 'reset');
    await raw(
      'POST /v1/accounts/acct-1/periods/2026-01/close HTTP/1.1\r\nHost: usagedb.test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n',
      '{"reason": "jan',
      'close',
    );
    await counted(before, '/v1/usage/batch', 499);
    await counted(before, '/v1/accounts/:account_id/periods/:period/close', 499);
  });

  it('a malformed chunk size is answered 400 (by Node) and counted as 400 invalid_request', async () => {
    const before = await counts();
    const answer = await raw(chunked('/v1/usage/batch'), 'zz\r\n{"events": []}\r\n0\r\n\r\n', 'wait');
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    const periods = await raw(chunked('/v1/accounts/acct-1/periods/2026-01/close'), '5\r\n{"rea\r\n-1\r\n', 'wait');
    expect(periods).toMatch(/^HTTP\/1\.1 400 /);
    await counted(before, '/v1/usage/batch', 400);
    await counted(before, '/v1/accounts/:account_id/periods/:period/close', 400);
  });

  it('none of them was a 5xx or an error-level "request failed" line, and the server still answers', async () => {
    const fives = [...(await counts())].filter(([k]) => / 5\d\d$/.test(k));
    expect(fives).toEqual([]);
    expect(logger.lines.filter((l) => l.level === 'error' || l.msg === 'request failed')).toEqual([]);
    const res = await fetch(`http://127.0.0.1:${port}/v1/usage/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"events": []}',
    });
    expect(res.status).toBe(200);
  });
});

describe('connectionErrorOf', () => {
  const aborted = () => Object.assign(new Error('aborted'), { code: 'ECONNRESET' });

  it('makes a body read on a broken connection the client’s: 499, or 400 for framing the parser refused', () => {
    expect(connectionErrorOf(aborted(), { clientGone: true })).toBeInstanceOf(RequestAbortedError);
    expect(connectionErrorOf(aborted(), { clientGone: false })).toBeInstanceOf(RequestAbortedError);
    expect(connectionErrorOf(new Error('stream closed'), { clientGone: true, parserErrorCode: 'HPE_INVALID_EOF_STATE' })).toBeInstanceOf(RequestAbortedError);
    const framing = connectionErrorOf(aborted(), { clientGone: true, parserErrorCode: 'HPE_INVALID_CHUNK_SIZE' });
    expect(framing).toBeInstanceOf(ValidationError);
    expect(toHttpError(framing)).toMatchObject({ status: 400, body: { error: { code: 'invalid_request', details: { field: 'body' } } } });
    expect(toHttpError(new RequestAbortedError('gone'))).toMatchObject({ status: 499, kind: 'user', body: { error: { code: 'client_closed_request' } } });
  });

  it('leaves typed errors and failures on a live connection alone: a store fault stays a fault', () => {
    const store = new TransientStoreError('store unavailable reading k');
    expect(connectionErrorOf(store, { clientGone: true })).toBe(store);
    const bug = new TypeError('x is undefined');
    expect(connectionErrorOf(bug, { clientGone: false })).toBe(bug);
  });
});
