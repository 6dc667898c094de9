/**
 * The hostile-input matrix of issue 16 (items 7, 8, 9, 10, 15), one table per way in: HTTP
 * requests answered in process (strict bodies and parameters, keys named like Object properties,
 * body limits), raw requests over a socket to @hono/node-server (limits before the body arrived,
 * Connection: close, aborted uploads), and fs data directories left by crashed writes. Every
 * hostile request gets its 4xx and the message naming the field; none is a 5xx, and none stores,
 * closes or runs anything.
 */
import { serve, type ServerType } from '@hono/node-server';
import { mkdirSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsStore } from '../../src/store/fs.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance, postBatch, storedEvents, usage, type Instance } from '../support/instance.ts';

const KiB = 1024;
const INGEST_LIMIT = 16 * KiB;
const Q = { from: '2026-01-01', to: '2026-02-01' };
let inst: Instance;
let server: ServerType;
let port: number;

beforeAll(async () => {
  inst = await openInstance(new MemoryStore(), 'hostile', { ingest: { maxBodyBytes: INGEST_LIMIT } });
  const seed = [
    usage(1, { account_id: 'acc_h', quantity: 5, dimensions: { toString: 'ts', constructor: 'c' } }),
    usage(2, { account_id: 'acc_i', quantity: 7 }),
  ];
  expect((await postBatch(inst.app, seed)).body.accepted).toBe(2);
  await new Promise<void>((resolve) => {
    server = serve({ fetch: inst.app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  (server as Server).closeAllConnections();
  await new Promise((r) => server.close(r));
});

// ---------------------------------------------------------------------------------------------
// In process

interface HttpRow {
  readonly item: 7 | 8 | 9;
  readonly what: string;
  readonly method?: string;
  readonly path: string;
  /** Sent as is when a string, as JSON otherwise. */
  readonly body?: string | object;
  readonly status: number;
  /** The error message (4xx) or a check of the 200 answer. */
  readonly expect: RegExp | ((answer: any) => void);
}

const big = (n: number) => `{"events": [], "pad": "${'x'.repeat(n)}"}`;

const HTTP: readonly HttpRow[] = [
  // item 7: strict bodies and parameters
  {
    item: 7,
    what: 'typo in a query field (was: the all-accounts total)',
    path: '/v1/query/json',
    body: { acount_id: 'acc_h', ...Q },
    status: 400,
    expect: /^acount_id: unknown field/,
  },
  {
    item: 7,
    what: 'unknown field in order_by',
    path: '/v1/query/json',
    body: { ...Q, group_by: 'account_id', order_by: [{ key: 'sum', order: 'desc' }] },
    status: 400,
    expect: /^order_by\.0\.order: unknown field/,
  },
  {
    item: 7,
    what: 'unknown field beside sql',
    path: '/v1/query/sql',
    body: { sql: 'SELECT COUNT(*) FROM usage_events', explain: true },
    status: 400,
    expect: /^explain: unknown field/,
  },
  {
    item: 7,
    what: 'unknown field in a close',
    path: '/v1/accounts/acc_h/periods/2025-10/close',
    body: { reason: 'r', frozen: true },
    status: 400,
    expect: /^frozen: unknown field/,
  },
  {
    item: 7,
    what: 'unknown field in a reopen',
    path: '/v1/accounts/acc_h/periods/2025-10/reopen',
    body: { why: 'r' },
    status: 400,
    expect: /^why: unknown field/,
  },
  {
    item: 7,
    what: 'unknown top-level ingest field',
    path: '/v1/usage/batch',
    body: { events: [usage(50)], mode: 'dry' },
    status: 400,
    expect: /^mode: unknown field/,
  },
  { item: 7, what: 'job options as a body', path: '/v1/admin/jobs/gc', body: { dry_run: true }, status: 400, expect: /^dry_run: unknown field/ },
  { item: 7, what: 'misspelt job parameter', path: '/v1/admin/jobs/gc?dry-run=true', status: 400, expect: /^dry-run: unknown query parameter/ },
  {
    item: 7,
    what: 'repeated query parameter',
    method: 'GET',
    path: '/v1/accounts/acc_h/usage?from=2026-01-01&from=2025-01-01&to=2026-02-01',
    status: 400,
    expect: /^from: given more than once/,
  },
  {
    item: 7,
    what: 'unknown event field rejects that event only',
    path: '/v1/usage/batch',
    body: { events: [usage(60, { account_id: 'acc_x', amount: 3 }), usage(61, { account_id: 'acc_x', ingested_at_ms: 1, dimensions: { inner: { a: 'b' } } })] },
    status: 200,
    expect: (a) => expect(a).toMatchObject({ accepted: 1, rejected: 1, errors: [{ index: 0, reason: 'amount: unknown field' }] }),
  },
  // item 8: keys named like Object properties
  {
    item: 8,
    what: 'group by dim:__proto__, dim:toString, dim:constructor',
    path: '/v1/query/json',
    body: { ...Q, account_id: 'acc_h', group_by: ['dim:__proto__', 'dim:toString', 'dim:constructor'] },
    status: 200,
    expect: (a) => expect(a.lines).toEqual([{ 'dim:__proto__': null, 'dim:toString': 'ts', 'dim:constructor': 'c', quantity: '5', count: 1, unit: 'tokens' }]),
  },
  {
    item: 8,
    what: 'bare group keys valueOf, hasOwnProperty',
    path: '/v1/query/json',
    body: { ...Q, account_id: 'acc_h', group_by: 'valueOf,hasOwnProperty' },
    status: 200,
    expect: (a) => expect(a.lines).toEqual([{ 'dim:valueOf': null, 'dim:hasOwnProperty': null, quantity: '5', count: 1, unit: 'tokens' }]),
  },
  {
    item: 8,
    what: 'filter named __proto__ (was: silently dropped)',
    path: '/v1/query/json',
    body: `{"from": "2026-01-01", "to": "2026-02-01", "filters": {"__proto__": ["x"]}}`,
    status: 400,
    expect: /^filters\.__proto__: .*unknown filter/,
  },
  {
    item: 8,
    what: 'filter on dim:toString matches only its events',
    path: '/v1/query/json',
    body: { ...Q, filters: { 'dim:toString': 'ts' } },
    status: 200,
    expect: (a) => expect(a.lines).toEqual([{ quantity: '5', count: 1, unit: 'tokens' }]),
  },
  {
    item: 8,
    what: 'filter on dim:valueOf matches nothing',
    path: '/v1/query/json',
    body: { ...Q, filters: { 'dim:valueOf': ['x'] } },
    status: 200,
    expect: (a) => expect(a.lines).toEqual([{ quantity: '0', count: 0 }]),
  },
  {
    item: 8,
    what: 'metric named constructor',
    path: '/v1/query/json',
    body: { ...Q, metrics: ['constructor'] },
    status: 400,
    expect: /^metrics: unknown metric/,
  },
  {
    item: 8,
    what: 'order_by toString',
    path: '/v1/query/json',
    body: { ...Q, group_by: 'account_id', order_by: ['toString'] },
    status: 400,
    expect: /^order_by: "toString" is neither/,
  },
  {
    item: 8,
    what: 'SQL group by "dim:toString"',
    path: '/v1/query/sql',
    body: {
      sql: `SELECT "dim:toString", SUM(quantity) FROM usage_events WHERE account_id IN ('acc_h', 'acc_i') AND timestamp_ms >= 1767225600000 AND timestamp_ms < 1769904000000 GROUP BY "dim:toString"`,
    },
    status: 200,
    expect: (a) =>
      expect(a.lines).toEqual([
        { 'dim:toString': null, quantity: '7', unit: 'tokens' },
        { 'dim:toString': 'ts', quantity: '5', unit: 'tokens' },
      ]),
  },
  {
    item: 8,
    what: '__proto__ as a query parameter',
    method: 'GET',
    path: '/v1/accounts/acc_h/usage?from=2026-01-01&to=2026-02-01&__proto__=1',
    status: 400,
    expect: /^__proto__: unknown query parameter/,
  },
  {
    item: 8,
    what: '__proto__ as an event dimension is reserved',
    path: '/v1/usage/batch',
    body: `{"events": [${JSON.stringify(usage(70)).slice(0, -1)}, "dimensions": {"__proto__": "x"}}]}`,
    status: 200,
    expect: (a) => expect(a).toMatchObject({ accepted: 0, rejected: 1, errors: [{ reason: 'dimensions: the key "__proto__" is reserved' }] }),
  },
  // item 9: body limits on every route
  { item: 9, what: 'query body over 64 KiB', path: '/v1/query/json', body: big(64 * KiB), status: 413, expect: /^body: larger than 65536 bytes/ },
  { item: 9, what: 'SQL body over 64 KiB', path: '/v1/query/sql', body: big(64 * KiB), status: 413, expect: /^body: larger than 65536 bytes/ },
  {
    item: 9,
    what: 'close body over 64 KiB',
    path: '/v1/accounts/acc_h/periods/2025-10/close',
    body: big(64 * KiB),
    status: 413,
    expect: /^body: larger than 65536 bytes/,
  },
  {
    item: 9,
    what: 'reopen body over 64 KiB',
    path: '/v1/accounts/acc_h/periods/2025-10/reopen',
    body: big(64 * KiB),
    status: 413,
    expect: /^body: larger than 65536 bytes/,
  },
  { item: 9, what: 'job body over 64 KiB', path: '/v1/admin/jobs/compact', body: big(64 * KiB), status: 413, expect: /^body: larger than 65536 bytes/ },
  {
    item: 9,
    what: 'ingest body over USAGEDB_MAX_BODY_BYTES',
    path: '/v1/usage/batch',
    body: big(INGEST_LIMIT),
    status: 413,
    expect: /^body: larger than 16384 bytes/,
  },
  {
    item: 9,
    what: 'ingest body within its own limit is read (then judged on its fields)',
    path: '/v1/usage/batch',
    body: big(8 * KiB),
    status: 400,
    expect: /^pad: unknown field/,
  },
  {
    item: 9,
    what: 'SQL text longer than 10,000 characters',
    path: '/v1/query/sql',
    body: { sql: `SELECT COUNT(*) FROM usage_events ${' '.repeat(10_000)}` },
    status: 400,
    expect: /^sql: longer than 10000 characters/,
  },
];

describe('hostile requests (in process)', () => {
  for (const row of HTTP) {
    it(`item ${row.item}: ${row.what} → ${row.status}`, async () => {
      const init: RequestInit = { method: row.method ?? 'POST', headers: { 'content-type': 'application/json' } };
      if (row.body !== undefined) init.body = typeof row.body === 'string' ? row.body : JSON.stringify(row.body);
      const res = await inst.app.request(row.path, init);
      const answer = (await res.json()) as any;
      expect(res.status, JSON.stringify(answer)).toBe(row.status);
      if (typeof row.expect === 'function') row.expect(answer);
      else {
        expect(answer.error.code).toBe(row.status === 413 ? 'payload_too_large' : 'invalid_request');
        expect(answer.error.message).toMatch(row.expect);
        expect(answer.error.details.field).toBe(answer.error.message.split(':')[0]);
      }
    });
  }

  it('stored only the valid events of the rows, closed nothing, and no row was a 5xx', async () => {
    expect((await storedEvents(inst.db)).map((e) => e.event_id).sort()).toEqual(['evt-1', 'evt-2', 'evt-61']);
    for (const a of ['acc_h', 'acc_i'])
      expect(((await (await inst.app.request(`/v1/accounts/${a}/periods`)).json()) as { periods: unknown[] }).periods).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Over a socket (node-server)

interface SocketRow {
  readonly item: 9 | 10;
  readonly what: string;
  readonly head: string;
  /** What is written after the head (a function: written repeatedly until the answer). */
  readonly body: string | (() => string);
  readonly status: number;
  readonly connection: 'close' | 'keep-alive';
}

const req = (path: string, framing: string) =>
  `POST ${path} HTTP/1.1\r\nHost: usagedb.test\r\nConnection: keep-alive\r\nContent-Type: application/json\r\n${framing}\r\n\r\n`;
const chunk = () => `2000\r\n${' '.repeat(0x2000)}\r\n`;
const small = JSON.stringify({ acount_id: 'x', ...Q });

const SOCKET: readonly SocketRow[] = [
  {
    item: 10,
    what: 'chunked query body past the limit',
    head: req('/v1/query/json', 'Transfer-Encoding: chunked'),
    body: chunk,
    status: 413,
    connection: 'close',
  },
  {
    item: 10,
    what: 'chunked close body past the limit',
    head: req('/v1/accounts/acc_h/periods/2025-10/close', 'Transfer-Encoding: chunked'),
    body: chunk,
    status: 413,
    connection: 'close',
  },
  {
    item: 10,
    what: 'chunked ingest body past its limit',
    head: req('/v1/usage/batch', 'Transfer-Encoding: chunked'),
    body: chunk,
    status: 413,
    connection: 'close',
  },
  {
    item: 9,
    what: 'Content-Length of 64 MiB (refused from the header)',
    head: req('/v1/query/json', `Content-Length: ${64 * 1024 * 1024}`),
    body: ' '.repeat(100),
    status: 413,
    connection: 'close',
  },
  {
    item: 9,
    what: 'Content-Length of 64 MiB to a period close',
    head: req('/v1/accounts/acc_h/periods/2025-10/close', `Content-Length: ${64 * 1024 * 1024}`),
    body: '{',
    status: 413,
    connection: 'close',
  },
  {
    item: 10,
    what: 'a complete bad body keeps the connection',
    head: req('/v1/query/json', `Content-Length: ${small.length}`),
    body: small,
    status: 400,
    connection: 'keep-alive',
  },
];

/** Writes the row on a fresh connection, reads the answer's status and Connection header. */
function send(row: SocketRow): Promise<{ status: number; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    let data = '';
    let done = false;
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(row.head);
      if (typeof row.body === 'string') return void socket.write(row.body);
      const write = row.body;
      const pump = () => {
        while (!done && socket.writable) if (!socket.write(write())) return void socket.once('drain', pump);
      };
      pump();
    });
    const timer = setTimeout(() => reject(new Error(`no answer: ${data.slice(0, 100)}`)), 10_000);
    socket.on('data', (d) => {
      data += d.toString('latin1');
      const end = data.indexOf('\r\n\r\n');
      if (end < 0 || done) return;
      done = true;
      clearTimeout(timer);
      const headers = data.slice(0, end);
      socket.destroy();
      resolve({ status: Number(headers.split(' ')[1]), connection: /^connection: (.*)$/im.exec(headers)?.[1]?.trim() });
    });
    socket.on('error', () => undefined);
  });
}

describe('hostile requests over a socket (node-server)', () => {
  for (const row of SOCKET) {
    it(`item ${row.item}: ${row.what} → ${row.status}, Connection: ${row.connection}`, async () => {
      expect(await send(row)).toEqual({ status: row.status, connection: row.connection });
    });
  }

  it('the server still answers a keep-alive request on a fresh connection', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/v1/query/json`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(Q),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('connection')).toBe('keep-alive');
  });
});

// ---------------------------------------------------------------------------------------------
// item 15: fs data directories left by crashes

const MIN = 60_000;
const FS_ROWS: readonly { what: string; ageMs: number; bytes: number; kept: boolean }[] = [
  { what: '0-byte temp file of a crash 11 minutes ago', ageMs: 11 * MIN, bytes: 0, kept: false },
  { what: 'partly written temp file of a crash a day ago', ageMs: 1_440 * MIN, bytes: 4096, kept: false },
  { what: 'temp file with a future mtime (clock step)', ageMs: -5 * MIN, bytes: 10, kept: true },
  { what: '0-byte temp file 9 minutes old (may be a live write)', ageMs: 9 * MIN, bytes: 0, kept: true },
  { what: 'temp file written a second ago', ageMs: 1_000, bytes: 100, kept: true },
];

describe('fs store start after crashes (item 15)', () => {
  it('removes exactly the temp files older than 10 minutes; objects are untouched', async () => {
    const root = mkdtempSync(join(tmpdir(), 'usagedb-hostile-fs-'));
    mkdirSync(join(root, '.tmp'));
    mkdirSync(join(root, 'objects', 'p'), { recursive: true });
    writeFileSync(join(root, 'objects', 'p', 'old-object'), 'kept');
    const old = new Date(Date.now() - 3 * 86_400_000);
    utimesSync(join(root, 'objects', 'p', 'old-object'), old, old);
    for (const [i, row] of FS_ROWS.entries()) {
      const path = join(root, '.tmp', `row${i}.tmp`);
      writeFileSync(path, Buffer.alloc(row.bytes));
      const t = new Date(Date.now() - row.ageMs);
      utimesSync(path, t, t);
    }
    const store = new FsStore({ root });
    expect(await store.head('p/old-object')).not.toBeNull();
    const left = new Set(readdirSync(join(root, '.tmp')));
    expect(FS_ROWS.map((row, i) => [row.what, left.has(`row${i}.tmp`)])).toEqual(FS_ROWS.map((row) => [row.what, row.kept]));
    expect(store.staleTempFilesRemoved).toBe(FS_ROWS.filter((r) => !r.kept).length);
  });
});
