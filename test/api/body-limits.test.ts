/**
 * Issue 16 items 9 and 10. Every route has a body limit: ingest USAGEDB_MAX_BODY_BYTES, every
 * other route USAGEDB_MAX_REQUEST_BYTES (64 KiB); above it the answer is 413 `payload_too_large`
 * naming `body` and the limit, and the body is not read (a Content-Length is refused from the
 * header; a chunked body is read only until it passes the limit). Over a real socket to
 * @hono/node-server, an answer given before the body arrived carries `Connection: close`, so a
 * client never reuses a connection the server is about to close; a normal keep-alive request on a
 * fresh connection works, and a connection whose body was read stays reusable.
 */
import { serve, type ServerType } from '@hono/node-server';
import type { Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_REQUEST_BYTES } from '../../src/api/body-limit.ts';
import { silentLogger } from '../../src/api/observability.ts';
import { seededRandom } from '../../src/model/deps.ts';
import { loadConfig } from '../../src/runtime/config.ts';
import { buildServices } from '../../src/runtime/services.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance, TestClock, type Instance } from '../support/instance.ts';

const INGEST_LIMIT = 4096;
let inst: Instance;

beforeAll(async () => {
  inst = await openInstance(new MemoryStore(), 'limits', { ingest: { maxBodyBytes: INGEST_LIMIT } });
});

/** Every route of the app that takes a body (POST), with a concrete path. */
function postRoutes(): string[] {
  const paths = inst.app.routes.filter((r) => r.method === 'POST').map((r) => r.path);
  return [...new Set(paths)].map((p) => p.replace(':account_id', 'acct-1').replace(':period', '2026-01').replace(':job', 'gc').replace(':id', 'c1'));
}

/** A body source of `total` bytes that counts what the server pulled from it. */
function countingStream(total: number): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  const chunk = new Uint8Array(64 * 1024).fill(0x20);
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close();
      sent += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
  return { stream, pulled: () => sent };
}

describe('every route has a body limit (in process)', () => {
  it('covers every POST route the app serves', () => {
    expect(postRoutes().sort()).toEqual([
      '/v1/accounts/acct-1/periods/2026-01/close',
      '/v1/accounts/acct-1/periods/2026-01/reopen',
      '/v1/admin/conflicts/c1/resolve',
      '/v1/admin/jobs/gc',
      '/v1/query/json',
      '/v1/query/sql',
      '/v1/usage/batch',
    ]);
  });

  for (const size of ['over', 'at'] as const) {
    it(`a Content-Length ${size} the limit: ${size === 'over' ? '413 naming body and the limit' : 'not refused for its size'}, on every POST route`, async () => {
      for (const path of postRoutes()) {
        const limit = path === '/v1/usage/batch' ? INGEST_LIMIT : DEFAULT_MAX_REQUEST_BYTES;
        const body = ' '.repeat(size === 'over' ? limit + 1 : limit - 2) + '{}';
        const res = await inst.app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        const answer = (await res.json()) as { error?: { code: string; message: string; details: unknown } };
        if (size === 'over') {
          expect([path, res.status]).toEqual([path, 413]);
          expect(answer.error).toEqual({
            code: 'payload_too_large',
            message: `body: larger than ${limit} bytes, the limit of this route`,
            details: { field: 'body', limit },
          });
        } else {
          expect([path, res.status]).not.toEqual([path, 413]);
        }
      }
    });
  }

  it('a 64 MiB streamed (chunked) body to /v1/query/json is refused after reading about the limit, not buffered', async () => {
    const src = countingStream(64 * 1024 * 1024);
    const res = await inst.app.request('/v1/query/json', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: src.stream,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { details: unknown } }).error.details).toEqual({ field: 'body', limit: DEFAULT_MAX_REQUEST_BYTES });
    expect(src.pulled()).toBeLessThan(4 * DEFAULT_MAX_REQUEST_BYTES);
  });

  it('USAGEDB_MAX_REQUEST_BYTES sets the limit of the non-ingest routes and leaves ingest on USAGEDB_MAX_BODY_BYTES', async () => {
    const config = loadConfig({ USAGEDB_STORE: 'memory', USAGEDB_MAX_REQUEST_BYTES: '2048', USAGEDB_MAX_BODY_BYTES: '100000' });
    expect(config.maxRequestBytes).toBe(2048);
    const s = await buildServices({
      config,
      store: new MemoryStore(),
      deps: { clock: new TestClock(), random: seededRandom(1) },
      logger: silentLogger,
      loopbackOnly: true,
    });
    const post = (path: string, bytes: number) =>
      s.app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"events": []}${' '.repeat(bytes)}` });
    expect((await post('/v1/query/json', 3000)).status).toBe(413);
    expect((await post('/v1/accounts/a/periods/2026-01/close', 3000)).status).toBe(413);
    expect((await post('/v1/usage/batch', 50_000)).status).toBe(200);
    expect((await post('/v1/usage/batch', 100_001)).status).toBe(413);
  });
});

// ---------------------------------------------------------------------------------------------
// Over a real socket

let server: ServerType;
let port: number;

beforeAll(async () => {
  await new Promise<void>((resolve) => {
    server = serve({ fetch: inst.app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  (server as Server).closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

interface Answer {
  readonly status: number;
  readonly headers: Map<string, string>;
  readonly body: string;
}

/** Reads one HTTP/1.1 answer (Content-Length framed) from `data`, if complete. */
function parseAnswer(data: string): { answer: Answer; rest: string } | undefined {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...lines] = data.slice(0, end).split('\r\n');
  const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  const length = Number(headers.get('content-length') ?? 0);
  if (data.length < end + 4 + length) return undefined;
  return { answer: { status: Number(statusLine!.split(' ')[1]), headers, body: data.slice(end + 4, end + 4 + length) }, rest: data.slice(end + 4 + length) };
}

/** A raw keep-alive connection that sends requests and reads answers in order. */
class Conn {
  readonly socket: Socket;
  private data = '';
  closed = false;
  private waiters: (() => void)[] = [];
  constructor() {
    this.socket = connect(port, '127.0.0.1');
    this.socket.on('data', (d) => {
      this.data += d.toString('latin1');
      this.wake();
    });
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }
  static async open(): Promise<Conn> {
    const c = new Conn();
    await new Promise<void>((r) => c.socket.once('connect', () => r()));
    return c;
  }
  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  async answer(timeoutMs = 10_000): Promise<Answer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const parsed = parseAnswer(this.data);
      if (parsed !== undefined) {
        this.data = parsed.rest;
        return parsed.answer;
      }
      if (this.closed) throw new Error(`connection closed before an answer: ${JSON.stringify(this.data.slice(0, 200))}`);
      if (Date.now() > deadline) throw new Error('no answer in time');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }
  /** Waits until the server closes the connection (or the timeout passes); answers whether it did. */
  async closedWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }
  write(s: string | Uint8Array): boolean {
    return this.socket.write(s);
  }
  destroy(): void {
    this.socket.destroy();
  }
}

const jsonQuery = JSON.stringify({ from: '2026-01-01', to: '2026-02-01' });
const head = (path: string, extra: string) =>
  `POST ${path} HTTP/1.1\r\nHost: usagedb.test\r\nConnection: keep-alive\r\nContent-Type: application/json\r\n${extra}\r\n`;
const complete = (path: string, body: string) => `${head(path, `Content-Length: ${Buffer.byteLength(body)}\r\n`)}${body}`;

/**
 * Starts a chunked upload of up to `total` bytes in 16 KiB chunks, never sending the last chunk,
 * and stops writing as soon as an answer arrives; resolves with that answer.
 */
async function chunkedUpload(c: Conn, path: string, total: number): Promise<Answer> {
  c.write(head(path, 'Transfer-Encoding: chunked\r\n'));
  const chunk = `4000\r\n${' '.repeat(0x4000)}\r\n`;
  let answered = false;
  const answer = c.answer(15_000).finally(() => (answered = true));
  void (async () => {
    for (let sent = 0; sent < total && !answered && !c.closed; sent += 0x4000) {
      if (!c.write(chunk)) await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return answer;
}

describe('an answer before the body arrived closes the connection (node-server)', () => {
  for (const path of ['/v1/query/json', '/v1/query/sql', '/v1/accounts/acct-1/periods/2026-01/close', '/v1/usage/batch']) {
    it(`a chunked upload over the limit to ${path}: 413 with Connection: close, and the server closes`, async () => {
      const c = await Conn.open();
      const a = await chunkedUpload(c, path, 8 * 1024 * 1024);
      expect(a.status).toBe(413);
      expect(JSON.parse(a.body).error.code).toBe('payload_too_large');
      expect(a.headers.get('connection')).toBe('close');
      expect(await c.closedWithin(5_000)).toBe(true);
      c.destroy();
    });
  }

  it('a Content-Length over the limit, with the body still coming: 413 from the header with Connection: close', async () => {
    const c = await Conn.open();
    c.write(head('/v1/query/json', `Content-Length: ${64 * 1024 * 1024}\r\n`));
    c.write(' '.repeat(1000));
    const a = await c.answer();
    expect(a.status).toBe(413);
    expect(a.headers.get('connection')).toBe('close');
    c.destroy();
  });

  it('a normal keep-alive request on a fresh connection works, twice on the same socket (POST and GET)', async () => {
    const c = await Conn.open();
    for (let i = 0; i < 2; i++) {
      c.write(complete('/v1/query/json', jsonQuery));
      const a = await c.answer();
      expect(a.status).toBe(200);
      expect(a.headers.get('connection')).toBe('keep-alive');
      c.write('GET /health HTTP/1.1\r\nHost: usagedb.test\r\nConnection: keep-alive\r\n\r\n');
      const h = await c.answer();
      expect([h.status, h.headers.get('connection')]).toEqual([200, 'keep-alive']);
    }
    c.destroy();
  });

  it('an error answered after the whole body arrived keeps the connection reusable', async () => {
    const c = await Conn.open();
    c.write(complete('/v1/query/json', JSON.stringify({ from: 'yesterday', to: '2026-02-01' })));
    const bad = await c.answer();
    expect(bad.status).toBe(400);
    expect(bad.headers.get('connection')).toBe('keep-alive');
    c.write(complete('/v1/query/json', jsonQuery));
    expect((await c.answer()).status).toBe(200);
    c.destroy();
  });

  it('after a 413 on one connection the server keeps serving others', async () => {
    const c = await Conn.open();
    expect((await chunkedUpload(c, '/v1/query/json', 4 * 1024 * 1024)).status).toBe(413);
    c.destroy();
    const res = await fetch(`http://127.0.0.1:${port}/v1/query/json`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: jsonQuery });
    expect(res.status).toBe(200);
  });
});
