/**
 * A live server for the console's browser tests: the real app (memory store) on 127.0.0.1:0 via
 * @hono/node-server, seeded only through the HTTP API — 10,000 small accounts, one rich account
 * (three meters and models over 20 days, a quantity beyond 2^53), a closed period with a pending
 * adjustment, and a conflict found by compaction. Also runnable by hand:
 * `node test/console/fixture.ts` prints the URL and keys and serves until Ctrl-C.
 */
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';
import { createApp } from '../../src/api/app.ts';
import { parseApiKeys } from '../../src/api/auth.ts';
import { Metrics } from '../../src/api/metrics.ts';
import { Ingestor } from '../../src/ingest/ingestor.ts';
import { Database } from '../../src/manifest/database.ts';
import { seededRandom } from '../../src/model/deps.ts';
import { PeriodService } from '../../src/period/periods.ts';
import { QueryEngine } from '../../src/query/engine.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { TestClock } from '../support/instance.ts';

export const KEYS = { admin: 'ops-console-secret-0001', read: 'dash-console-secret-002' } as const;
const KEY_LIST = `ops:${KEYS.admin}:admin,dash:${KEYS.read}:read`;

const DAY = 86_400_000;
const now = new Date();
/** The seeded month: the previous UTC month, entirely in the past. */
export const MONTH_START = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1);
export const MONTH_END = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
const ymd = (ms: number) => new Date(ms).toISOString().slice(0, 10);
export const RANGE = { from: ymd(MONTH_START), to: ymd(MONTH_END) };
export const PERIOD = RANGE.from.slice(0, 7);
export const SMALL_ACCOUNTS = 10_000;
export const RICH = 'acme';
/** Holds a quantity no double can hold. */
export const HUGE_ACCOUNT = 'hooli';
export const CLOSED = 'globex';
export const CLASH = { account: 'initech', event: 'evt-clash' };
/** An exact quantity far beyond 2^53: a double would round it. */
export const HUGE = '123456789012345678901234567';

export interface Served {
  readonly url: string;
  readonly app: Hono;
  readonly clock: TestClock;
  close(): Promise<void>;
}

export async function listen(app: { fetch: (req: Request) => Response | Promise<Response> }): Promise<{ url: string; server: ServerType }> {
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) =>
      resolve({ url: `http://127.0.0.1:${info.port}`, server }),
    );
  });
}

export async function startServer(opts: { keys: boolean; seed: boolean }): Promise<Served> {
  const clock = new TestClock();
  const store = new MemoryStore();
  const db = await Database.open({ store, prefix: 'console', deps: { clock, random: seededRandom(7) }, create: { shardCount: 4, bucketCount: 16 } });
  const engine = new QueryEngine(db);
  const app = createApp({
    db,
    // A short dedupe window lets the seed store one event id twice (a conflict compaction finds).
    ingestor: new Ingestor(db, { dedupeWindowMs: 60_000 }),
    engine,
    periods: new PeriodService(db, engine),
    metrics: new Metrics(),
    keys: opts.keys ? await parseApiKeys(KEY_LIST) : [],
    // No grace or safety age: a GC dry run has replaced segments to list.
    jobOptions: { compact: { graceMs: 0 }, gc: { safetyAgeMs: 0 } },
  }) as unknown as Hono;
  const { url, server } = await listen(app);
  if (opts.seed) {
    await seed(url, clock);
    // A segment whose commit never happened (a crashed ingest): only GC can find it.
    await store.put(db.shards[0]!.keys.rawSegment('01ORPHANED0000000000000000'), new Uint8Array(64));
  }
  return { url, app, clock, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function api(url: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${KEYS.admin}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

const event = (id: string, account: string, ts: number, quantity: number | string, over: Record<string, unknown> = {}) => ({
  event_id: id,
  account_id: account,
  product_id: 'chat',
  meter_id: 'tokens.input',
  model_id: 'model-a',
  source: 'api',
  unit: 'tokens',
  timestamp_ms: ts,
  quantity,
  dimensions: { region: 'eu' },
  ...over,
});

async function ingest(url: string, events: unknown[]): Promise<void> {
  const r = await api(url, 'POST', '/v1/usage/batch', { events });
  if (r.accepted !== events.length) throw new Error(`seed: ${JSON.stringify(r).slice(0, 400)}`);
}

async function seed(url: string, clock: TestClock): Promise<void> {
  // 10,000 small accounts, distinct quantities (7919 is a unit modulo the prime 10007).
  await ingest(
    url,
    Array.from({ length: SMALL_ACCOUNTS }, (_, i) =>
      event(`small-${i}`, `acct_${String(i + 1).padStart(5, '0')}`, MONTH_START + (i % 28) * DAY + 3_600_000, ((i * 7919) % 10007) + 1),
    ),
  );
  // The rich account: three meters, three models, 20 days, 6 events a day.
  const meters = [
    ['tokens.input', 'tokens', 40_000],
    ['tokens.output', 'tokens', 15_000],
    ['requests', 'requests', 12],
  ] as const;
  const models = ['model-a', 'model-b', 'model-c'];
  const rich = [];
  for (let d = 0; d < 20; d++) {
    for (let k = 0; k < 6; k++) {
      const [meter, unit, base] = meters[k % 3]!;
      rich.push(
        event(`acme-${d}-${k}`, RICH, MONTH_START + d * DAY + (2 + k * 3) * 3_600_000, base + ((d * 37 + k * 101) % 997) * (unit === 'tokens' ? 13 : 1), {
          meter_id: meter,
          unit,
          model_id: models[(d + k) % 3],
        }),
      );
    }
  }
  await ingest(url, rich);
  await ingest(url, [
    event('hooli-1', HUGE_ACCOUNT, MONTH_START + 9 * DAY, HUGE, { meter_id: 'tokens.output' }),
    event('hooli-2', HUGE_ACCOUNT, MONTH_START + 10 * DAY, 1, { meter_id: 'tokens.output' }),
  ]);
  // A closed period with a correction accepted after the close (a pending adjustment).
  await ingest(
    url,
    [1, 2, 3, 4].map((i) => event(`globex-${i}`, CLOSED, MONTH_START + i * DAY, 1000 * i, { model_id: i % 2 === 0 ? 'model-a' : 'model-b' })),
  );
  await api(url, 'POST', `/v1/accounts/${CLOSED}/periods/${PERIOD}/close`, { reason: 'invoice sent' });
  await ingest(url, [
    event('globex-fix', CLOSED, MONTH_START + 2 * DAY + 60_000, -500, {
      kind: 'Correction',
      correction_ref: { original_event_id: 'globex-2', reason: 'double-counted retry' },
    }),
  ]);
  // A conflict: the same id with another payload past the dedupe window, then compaction.
  await ingest(url, [event(CLASH.event, CLASH.account, MONTH_START + 5 * DAY, 700)]);
  await api(url, 'POST', '/v1/admin/jobs/compact');
  clock.advance(120_000);
  await ingest(url, [event(CLASH.event, CLASH.account, MONTH_START + 5 * DAY, 750, { model_id: 'model-b' })]);
  await api(url, 'POST', '/v1/admin/jobs/compact');
  await api(url, 'POST', '/v1/admin/jobs/rollup');
  // Something not compacted yet, as on a live server.
  await ingest(url, [event('acme-late', RICH, MONTH_START + 19 * DAY + 20 * 3_600_000, 4321, { meter_id: 'tokens.input' })]);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const s = await startServer({ keys: !process.argv.includes('--open'), seed: true });
  console.log(`console: ${s.url}/console\nadmin key: ${KEYS.admin}\nread key:  ${KEYS.read}\nseeded range: ${RANGE.from} .. ${RANGE.to}`);
}
