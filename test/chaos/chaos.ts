/**
 * `npm run chaos -- --rounds 3 --seconds 60 --seed 1 [--servers 3] [--concurrency 4]`: several
 * usageDb server processes (`node src/runtime/node.ts`) on one MinIO bucket, background jobs on
 * (short intervals) and run through the admin route too, while a driver sends deterministic
 * batches (unique event ids, some re-sent copies of acknowledged events) and retries each batch
 * until it is acknowledged (200), recording every acknowledgment — and a seeded schedule SIGKILLs
 * and restarts server processes and MinIO (same data directory and port).
 *
 * After each round (servers and MinIO up again, in-flight batches acknowledged, compaction and
 * rollup run): every acknowledged event is read back through GET /v1/accounts/{a}/usage/events
 * (all pages) and must be there exactly once with its exact quantity, and GET
 * /v1/accounts/{a}/verify must answer drift 0 for every account. Prints the figures: acked, lost,
 * duplicated, changed, unexpected, 5xx outside outages, recovery times (restart → first 200).
 * Exit code 0 only when nothing was lost, duplicated or changed and every drift is 0.
 *
 * Each round uses a fresh database prefix in the bucket and fresh server processes; one MinIO
 * (data in a temp directory) serves the whole run. Server logs go to the run directory printed at
 * the start. Needs a `minio` binary (USAGEDB_MINIO_BIN, PATH or ~/go/bin: see README).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { seededRandom } from '../../src/model/deps.ts';
import { ensureBucket, freePort, MinioProcess } from '../support/minio.ts';
import { ServerProcess, sleep } from './cluster.ts';

export interface ChaosOptions {
  readonly rounds: number;
  /** Seconds of chaos (ingest + kills) per round; draining and verification come after. */
  readonly seconds: number;
  readonly seed: number;
  /** Server processes per round. */
  readonly servers: number;
  /** Concurrent driver workers (each sends one batch at a time). */
  readonly concurrency: number;
  readonly minioBin?: string | undefined;
  /** Where logs go (default: a new temp directory). */
  readonly runDir?: string | undefined;
  readonly print?: (line: string) => void;
}

export const DEFAULT_CHAOS: ChaosOptions = { rounds: 3, seconds: 60, seed: 1, servers: 3, concurrency: 4 };

const ACCOUNTS = ['acct-a', 'acct-b', 'acct-c', 'acct-d', 'acct-e', 'acct-f'];
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** After an entity is back, its clients may still see a few failures (stale sockets, backoff). */
const OUTAGE_GRACE_MS = 3_000;
/** A batch not acknowledged this long after the chaos phase ends fails the round. */
const DRAIN_TIMEOUT_MS = 180_000;

interface WireEvent {
  readonly event_id: string;
  readonly account_id: string;
  readonly product_id: string;
  readonly meter_id: string;
  readonly model_id: string;
  readonly source: string;
  readonly unit: string;
  readonly timestamp_ms: number;
  readonly quantity: number | string;
  readonly dimensions: Readonly<Record<string, string>>;
}

interface Window {
  readonly who: 'minio' | number;
  readonly from: number;
  to: number | undefined;
}

export interface FiveXx {
  readonly at: string;
  readonly server: number;
  readonly route: string;
  readonly status: number;
  readonly code: string;
}

export interface RoundFigures {
  readonly round: number;
  readonly seed: number;
  readonly prefix: string;
  readonly chaos_seconds: number;
  readonly total_seconds: number;
  readonly batches: number;
  /** Distinct events acknowledged (200), and how many of them were sent again later (duplicates). */
  readonly acked: number;
  readonly resent_copies: number;
  readonly lost: number;
  readonly duplicated: number;
  /** Stored with another quantity than the acknowledged one. */
  readonly changed: number;
  /** Stored but never acknowledged (every batch is retried until acknowledged, so 0). */
  readonly unexpected: number;
  readonly drift_nonzero: readonly string[];
  readonly total_mismatch: readonly string[];
  readonly rollups: number;
  readonly requests: number;
  readonly statuses: Readonly<Record<string, number>>;
  readonly connection_errors: number;
  readonly fivexx: number;
  readonly fivexx_outside_outages: number;
  readonly fivexx_outside: readonly FiveXx[];
  readonly kills: { readonly servers: number; readonly minio: number };
  /**
   * Server: restart → /health 200, apart for restarts while MinIO was down (those wait for the
   * store with the start backoff). MinIO: restart → first acknowledged batch.
   */
  readonly recovery_ms: {
    readonly servers: readonly number[];
    readonly servers_store_down: readonly number[];
    readonly minio: readonly number[];
    readonly minio_ready: readonly number[];
  };
  readonly admin_jobs: { readonly ok: number; readonly failed_shards: number; readonly errors: number };
  readonly anomalies: readonly string[];
}

export interface ChaosResult {
  readonly ok: boolean;
  readonly runDir: string;
  readonly rounds: readonly RoundFigures[];
}

/** Runs the rounds; resolves with the figures (never throws for a failed check: `ok` says). */
export async function runChaos(options: Partial<ChaosOptions> = {}): Promise<ChaosResult> {
  const o: ChaosOptions = { ...DEFAULT_CHAOS, ...options };
  const print = o.print ?? ((l: string) => console.log(l));
  const runDir = o.runDir ?? mkdtempSync(join(tmpdir(), 'usagedb-chaos-'));
  const minio = new MinioProcess({ bin: o.minioBin, dataDir: join(runDir, 'minio-data'), port: await freePort(), consolePort: await freePort() });
  print(`chaos: ${o.rounds} round(s) × ${o.seconds} s, seed ${o.seed}, ${o.servers} servers, ${o.concurrency} workers; MinIO ${minio.bin}; logs in ${runDir}`);
  await minio.start();
  const bucket = 'usagedb-chaos';
  await ensureBucket(minio.endpointFor(bucket));
  const rounds: RoundFigures[] = [];
  try {
    for (let r = 1; r <= o.rounds; r++) {
      const figures = await runRound(o, r, minio, bucket, runDir);
      rounds.push(figures);
      print(formatRound(figures));
    }
  } finally {
    await minio.stop();
  }
  const ok = rounds.every(roundOk);
  print(formatTotals(rounds, ok));
  return { ok, runDir, rounds };
}

export function roundOk(f: RoundFigures): boolean {
  return (
    f.acked > 0 &&
    f.lost === 0 &&
    f.duplicated === 0 &&
    f.changed === 0 &&
    f.unexpected === 0 &&
    f.drift_nonzero.length === 0 &&
    f.total_mismatch.length === 0 &&
    f.anomalies.length === 0
  );
}

async function runRound(o: ChaosOptions, round: number, minio: MinioProcess, bucket: string, runDir: string): Promise<RoundFigures> {
  const seed = (o.seed * 1_000_003 + round) >>> 0;
  const rng = seededRandom(seed);
  const t0 = Date.now();
  const prefix = `chaos-${t0.toString(36)}-r${round}`;
  const s3 = minio.endpointFor(bucket);
  const env: Record<string, string> = {
    HOST: '127.0.0.1',
    USAGEDB_STORE: 's3',
    USAGEDB_S3_ENDPOINT: s3.endpoint,
    USAGEDB_S3_BUCKET: bucket,
    USAGEDB_S3_REGION: s3.region,
    USAGEDB_S3_ACCESS_KEY_ID: s3.accessKeyId,
    USAGEDB_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    USAGEDB_S3_TIMEOUT_MS: '3000',
    USAGEDB_PREFIX: prefix,
    USAGEDB_SHARDS: '4',
    USAGEDB_BUCKETS: '16',
    USAGEDB_JOBS: 'true',
    USAGEDB_ROLLUP_INTERVAL_S: '2',
    USAGEDB_COMPACT_INTERVAL_S: '3',
    USAGEDB_GC_INTERVAL_S: '5',
    USAGEDB_COMPACT_GRACE_S: '5',
    USAGEDB_GC_SAFETY_AGE_S: '60',
    USAGEDB_LOG_LEVEL: 'warn',
  };
  const servers: ServerProcess[] = [];
  for (let i = 0; i < o.servers; i++) servers.push(new ServerProcess(i, await freePort(), env, runDir, `r${round}`));
  for (const s of servers) s.start();
  await Promise.all(servers.map((s) => s.waitHealthy()));

  const state = new RoundState(seed, t0);
  const chaosEnd = Date.now() + o.seconds * 1000;
  const controller = runSchedule(o, rng, servers, minio, state, chaosEnd);
  const workers = Array.from({ length: o.concurrency }, () => worker(servers, state, chaosEnd));
  const admin = adminLoop(servers, state, chaosEnd, state.rng);
  await controller; // every entity is running again when it returns
  await Promise.all([...workers, admin]);
  const chaosSeconds = (Date.now() - t0) / 1000;

  // Everything is up: make the derived data exist, then read everything back.
  const healthy = servers[0]!;
  for (const job of ['compact', 'rollup', 'compact', 'rollup']) await runJobUntilClean(healthy, job, state);
  const check = await verifyAll(healthy, state);
  for (const s of servers) await s.close();

  const outside = state.fivexx.filter((f) => !state.inOutage(f.serverIndex, f.from, f.to));
  const minioRecovery = state.minioRestarts.map((at) => {
    const first = state.ackTimes.find((t) => t >= at);
    return first === undefined ? Number.NaN : first - at;
  });
  return {
    round,
    seed,
    prefix,
    chaos_seconds: Math.round(chaosSeconds * 10) / 10,
    total_seconds: Math.round((Date.now() - t0) / 100) / 10,
    batches: state.batches,
    acked: state.acked.size,
    resent_copies: state.resent,
    ...check,
    requests: state.requests,
    statuses: Object.fromEntries([...state.statuses].sort()),
    connection_errors: state.connectionErrors,
    fivexx: state.fivexx.length,
    fivexx_outside_outages: outside.length,
    fivexx_outside: outside
      .slice(0, 20)
      .map((f) => ({ at: new Date(f.from).toISOString(), server: f.serverIndex, route: f.route, status: f.status, code: f.code })),
    kills: { servers: state.serverKills, minio: state.minioRestarts.length },
    recovery_ms: { servers: state.serverRecovery, servers_store_down: state.serverRecoveryStoreDown, minio: minioRecovery, minio_ready: state.minioReady },
    admin_jobs: state.adminJobs,
    anomalies: state.anomalies.slice(0, 20),
  };
}

// ---------------------------------------------------------------------------------------------
// What the driver knows

interface Failure {
  readonly serverIndex: number;
  readonly route: string;
  readonly from: number;
  readonly to: number;
  readonly status: number;
  readonly code: string;
}

class RoundState {
  readonly rng: () => number;
  /** Event id → the event as acknowledged. */
  readonly acked = new Map<string, WireEvent>();
  readonly ackedList: WireEvent[] = [];
  /** Response times of every acknowledgment (ascending: appended as they arrive). */
  readonly ackTimes: number[] = [];
  readonly windows: Window[] = [];
  readonly fivexx: Failure[] = [];
  readonly statuses = new Map<string, number>();
  readonly anomalies: string[] = [];
  readonly minioRestarts: number[] = [];
  readonly minioReady: number[] = [];
  readonly serverRecovery: number[] = [];
  readonly serverRecoveryStoreDown: number[] = [];
  readonly adminJobs = { ok: 0, failed_shards: 0, errors: 0 };
  readonly tsBase: number;
  nextBatch = 0;
  batches = 0;
  resent = 0;
  requests = 0;
  connectionErrors = 0;
  serverKills = 0;

  readonly seed: number;

  constructor(seed: number, t0: number) {
    this.seed = seed;
    // Choices that follow timing anyway (which server, when to run an admin job).
    this.rng = seededRandom(seed ^ 0x5bd1e995);
    this.tsBase = t0 - 2 * DAY;
  }

  /** Range that holds every event (timestamps are within [now - 2 days, now)). */
  get range(): { from: string; to: string } {
    return { from: new Date(this.tsBase - DAY).toISOString(), to: new Date(this.tsBase + 4 * DAY).toISOString() };
  }

  down(who: 'minio' | number, at = Date.now()): void {
    this.windows.push({ who, from: at, to: undefined });
  }

  up(who: 'minio' | number, at = Date.now()): void {
    for (const w of this.windows) if (w.who === who && w.to === undefined) w.to = at;
  }

  /** Whether MinIO or server `i` was down (or just back) at any time during [from, to]. */
  inOutage(i: number | 'minio', from: number, to: number): boolean {
    return this.windows.some((w) => (w.who === 'minio' || w.who === i) && w.from <= to && (w.to === undefined || w.to + OUTAGE_GRACE_MS >= from));
  }

  count(status: string): void {
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
  }

  /**
   * Batch number b of the round: 1-40 new events drawn from a generator seeded by (round seed, b),
   * so its content does not depend on timing; sometimes followed by copies of acknowledged events
   * (which ones depends on what was acknowledged by then).
   */
  makeBatch(): { id: string; events: WireEvent[]; body: string } {
    const b = this.nextBatch++;
    const rng = seededRandom((Math.imul(this.seed, 0x9e3779b1) + b) >>> 0);
    const n = 1 + Math.floor(rng() * 40);
    const events: WireEvent[] = [];
    for (let i = 0; i < n; i++) {
      const big = rng() < 0.05;
      const q = big
        ? `${1 + Math.floor(rng() * 9)}${String(Math.floor(rng() * 1e15)).padStart(15, '0')}${String(Math.floor(rng() * 1e12)).padStart(12, '0')}`
        : Math.floor(rng() * 1_000_000) - (rng() < 0.05 ? 500_000 : 0);
      events.push({
        event_id: `b${b}-e${i}`,
        account_id: ACCOUNTS[Math.floor(rng() * ACCOUNTS.length)]!,
        product_id: 'chat',
        meter_id: rng() < 0.5 ? 'tokens.input' : 'tokens.output',
        model_id: `model-${Math.floor(rng() * 3)}`,
        source: 'api',
        unit: 'tokens',
        timestamp_ms: this.tsBase + Math.floor(rng() * 2 * DAY),
        quantity: rng() < 0.5 ? String(q) : q,
        dimensions: { region: rng() < 0.5 ? 'eu' : 'us', batch: String(b) },
      });
    }
    if (this.ackedList.length > 0 && rng() < 0.1) {
      const copies = 1 + Math.floor(rng() * 3);
      for (let i = 0; i < copies; i++) events.push(this.ackedList[Math.floor(rng() * this.ackedList.length)]!);
    }
    this.batches++;
    return { id: `b${b}`, events, body: JSON.stringify({ events }) };
  }
}

// ---------------------------------------------------------------------------------------------
// Chaos schedule

interface Action {
  readonly at: number;
  readonly target: 'minio' | number;
  readonly downMs: number;
}

function schedule(o: ChaosOptions, rng: () => number, start: number, end: number): Action[] {
  const span = end - start;
  const actions: Action[] = [];
  const down = (target: 'minio' | number) => (target === 'minio' ? 1_000 + rng() * 3_000 : 300 + rng() * 2_700);
  // At least one crash of each kind per round, inside the first 70 %.
  const server = Math.floor(rng() * o.servers);
  actions.push({ at: start + span * (0.1 + 0.3 * rng()), target: server, downMs: down(server) });
  actions.push({ at: start + span * (0.3 + 0.4 * rng()), target: 'minio', downMs: down('minio') });
  for (let t = start + 2_000 + rng() * 3_000; t < start + span * 0.85; t += 2_000 + rng() * 4_000) {
    const target = rng() < 0.3 ? 'minio' : Math.floor(rng() * o.servers);
    actions.push({ at: t, target, downMs: down(target) });
  }
  return actions.sort((a, b) => a.at - b.at);
}

async function runSchedule(o: ChaosOptions, rng: () => number, servers: ServerProcess[], minio: MinioProcess, state: RoundState, end: number): Promise<void> {
  const restarts: Promise<void>[] = [];
  const busy = new Set<'minio' | number>();
  for (const a of schedule(o, rng, Date.now(), end)) {
    await sleep(Math.max(0, a.at - Date.now()));
    if (busy.has(a.target)) continue;
    busy.add(a.target);
    if (a.target === 'minio') {
      await minio.kill('SIGKILL');
      state.down('minio');
      restarts.push(
        (async () => {
          await sleep(a.downMs);
          const at = Date.now();
          state.minioRestarts.push(at);
          await minio.start();
          state.minioReady.push(Date.now() - at);
          state.up('minio');
          busy.delete('minio');
        })(),
      );
    } else {
      const s = servers[a.target]!;
      await s.kill('SIGKILL');
      state.serverKills++;
      state.down(s.index);
      restarts.push(
        (async () => {
          await sleep(a.downMs);
          s.start();
          const ms = await s.waitHealthy();
          (state.inOutage('minio', s.startedAt, Date.now()) ? state.serverRecoveryStoreDown : state.serverRecovery).push(ms);
          state.up(s.index);
          busy.delete(s.index);
        })(),
      );
    }
  }
  await Promise.all(restarts);
}

// ---------------------------------------------------------------------------------------------
// Driver

function pick(servers: readonly ServerProcess[], rng: () => number): ServerProcess {
  const up = servers.filter((s) => s.running);
  const from = up.length > 0 ? up : servers;
  return from[Math.floor(rng() * from.length)]!;
}

async function request(s: ServerProcess, state: RoundState, method: string, path: string, body?: string): Promise<{ status: number; json: any } | undefined> {
  const from = Date.now();
  state.requests++;
  try {
    const res = await fetch(`${s.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body }),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = { raw: text.slice(0, 200) };
    }
    state.count(String(res.status));
    if (res.status >= 500)
      state.fivexx.push({
        serverIndex: s.index,
        route: `${method} ${path.split('?')[0]}`,
        from,
        to: Date.now(),
        status: res.status,
        code: String(json?.error?.code ?? 'none'),
      });
    return { status: res.status, json };
  } catch {
    state.connectionErrors++;
    state.count('connection error');
    return undefined;
  }
}

async function worker(servers: readonly ServerProcess[], state: RoundState, chaosEnd: number): Promise<void> {
  const hardEnd = chaosEnd + DRAIN_TIMEOUT_MS;
  while (Date.now() < chaosEnd) {
    const batch = state.makeBatch();
    const fresh = new Set(batch.events.filter((e) => !state.acked.has(e.event_id)).map((e) => e.event_id));
    for (let attempt = 0; ; attempt++) {
      if (Date.now() > hardEnd) {
        state.anomalies.push(`batch ${batch.id}: not acknowledged ${DRAIN_TIMEOUT_MS / 1000} s after the chaos phase`);
        return;
      }
      const s = pick(servers, state.rng);
      const r = await request(s, state, 'POST', '/v1/usage/batch', batch.body);
      if (r === undefined) {
        await sleep(20 + 30 * Math.min(attempt, 10));
        continue;
      }
      if (r.status === 200) {
        state.ackTimes.push(Date.now());
        const a = r.json as { accepted: number; duplicates: number; conflicts: number; rejected: number };
        if (a.accepted + a.duplicates !== batch.events.length || a.conflicts !== 0 || a.rejected !== 0) {
          state.anomalies.push(`batch ${batch.id}: ${batch.events.length} events answered ${JSON.stringify(r.json).slice(0, 300)}`);
        }
        for (const e of batch.events) {
          if (fresh.has(e.event_id)) {
            state.acked.set(e.event_id, e);
            state.ackedList.push(e);
          } else state.resent++;
        }
        break;
      }
      if (r.status >= 500) {
        await sleep(Math.min(1_000, 100 * 2 ** Math.min(attempt, 4)) * (0.5 + state.rng()));
        continue;
      }
      state.anomalies.push(`batch ${batch.id}: refused ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
      break;
    }
  }
}

/** Runs jobs through the admin route now and then, beside the servers' own schedulers. */
async function adminLoop(servers: readonly ServerProcess[], state: RoundState, chaosEnd: number, rng: () => number): Promise<void> {
  const jobs = ['compact', 'rollup', 'gc'];
  while (Date.now() < chaosEnd) {
    await sleep(1_500 + rng() * 2_500);
    const r = await request(pick(servers, rng), state, 'POST', `/v1/admin/jobs/${jobs[Math.floor(rng() * jobs.length)]}`);
    if (r?.status === 200) {
      state.adminJobs.ok++;
      state.adminJobs.failed_shards += Number(r.json.failed ?? 0);
    } else state.adminJobs.errors++;
  }
}

async function runJobUntilClean(s: ServerProcess, job: string, state: RoundState): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const r = await request(s, state, 'POST', `/v1/admin/jobs/${job}`);
    if (r?.status === 200 && r.json.failed === 0) return;
    await sleep(500);
  }
  state.anomalies.push(`${job}: still failing on some shard after 20 runs`);
}

// ---------------------------------------------------------------------------------------------
// Read-back

async function getJson(s: ServerProcess, state: RoundState, path: string): Promise<any> {
  for (let i = 0; i < 20; i++) {
    const r = await request(s, state, 'GET', path);
    if (r?.status === 200) return r.json;
    if (r !== undefined && r.status < 500) throw new Error(`GET ${path}: ${r.status} ${JSON.stringify(r.json)}`);
    await sleep(500);
  }
  throw new Error(`GET ${path}: no 200 after 20 tries`);
}

async function verifyAll(
  s: ServerProcess,
  state: RoundState,
): Promise<Pick<RoundFigures, 'lost' | 'duplicated' | 'changed' | 'unexpected' | 'drift_nonzero' | 'total_mismatch' | 'rollups'>> {
  const { from, to } = state.range;
  const seen = new Map<string, { n: number; quantity: string }>();
  const driftNonzero: string[] = [];
  const totalMismatch: string[] = [];
  let rollups = 0;
  for (const account of ACCOUNTS) {
    let cursor: string | null = null;
    do {
      const page: { events: { event_id: string; quantity: string }[]; next_cursor: string | null } = await getJson(
        s,
        state,
        `/v1/accounts/${account}/usage/events?from=${from}&to=${to}&limit=1000${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
      );
      for (const e of page.events) {
        const prev = seen.get(e.event_id);
        seen.set(e.event_id, { n: (prev?.n ?? 0) + 1, quantity: e.quantity });
      }
      cursor = page.next_cursor;
    } while (cursor !== null);
    const v = await getJson(s, state, `/v1/accounts/${account}/verify?from=${from}&to=${to}`);
    rollups += Number(v.rollups ?? 0);
    if (v.drift !== '0' || v.matches !== true) driftNonzero.push(`${account}: drift ${v.drift}, matches ${v.matches}`);
    const expected = state.ackedList.filter((e) => e.account_id === account);
    const want = expected.reduce((sum, e) => sum + BigInt(e.quantity), 0n).toString();
    if (v.raw_total !== want || v.raw_count !== expected.length)
      totalMismatch.push(`${account}: raw ${v.raw_total}/${v.raw_count}, acknowledged ${want}/${expected.length}`);
    const auto = await getJson(s, state, `/v1/accounts/${account}/usage?from=${from}&to=${to}`);
    const line = auto.lines[0] ?? { quantity: '0', count: 0 };
    if (auto.lines.length !== 1 || line.quantity !== want || line.count !== expected.length)
      totalMismatch.push(`${account}: usage ${line.quantity}/${line.count}, acknowledged ${want}/${expected.length}`);
  }
  let lost = 0;
  let changed = 0;
  for (const [id, e] of state.acked) {
    const got = seen.get(id);
    if (got === undefined) lost++;
    else if (got.quantity !== BigInt(e.quantity).toString()) changed++;
  }
  let duplicated = 0;
  let unexpected = 0;
  for (const [id, got] of seen) {
    if (got.n > 1) duplicated += got.n - 1;
    if (!state.acked.has(id)) unexpected++;
  }
  return { lost, duplicated, changed, unexpected, drift_nonzero: driftNonzero, total_mismatch: totalMismatch, rollups };
}

// ---------------------------------------------------------------------------------------------
// Output

const stats = (xs: readonly number[]) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return xs.length === 0 ? '—' : 'none recovered';
  return `n=${v.length} min ${v[0]} / median ${v[Math.floor(v.length / 2)]} / max ${v[v.length - 1]} ms`;
};

export function formatRound(f: RoundFigures): string {
  return [
    `round ${f.round} (seed ${f.seed}, prefix ${f.prefix}): ${roundOk(f) ? 'OK' : 'FAILED'} — ${f.chaos_seconds} s of chaos, ${f.total_seconds} s in all`,
    `  acked ${f.acked} events in ${f.batches} batches (+${f.resent_copies} re-sent copies answered as duplicates); lost ${f.lost}, duplicated ${f.duplicated}, changed ${f.changed}, unexpected ${f.unexpected}`,
    `  verify: drift 0 on every account: ${f.drift_nonzero.length === 0 ? 'yes' : `NO ${f.drift_nonzero.join('; ')}`}; totals match: ${f.total_mismatch.length === 0 ? 'yes' : `NO ${f.total_mismatch.join('; ')}`}; rollups ${f.rollups}`,
    `  requests ${f.requests}: ${Object.entries(f.statuses)
      .map(([k, v]) => `${k}×${v}`)
      .join(', ')}`,
    `  5xx ${f.fivexx}, outside outages ${f.fivexx_outside_outages}${f.fivexx_outside.length > 0 ? `: ${f.fivexx_outside.map((x) => `${x.at} s${x.server} ${x.route} ${x.status} ${x.code}`).join('; ')}` : ''}`,
    `  kills: servers ${f.kills.servers}, MinIO ${f.kills.minio}; recovery (restart → first 200): servers ${stats(f.recovery_ms.servers)}, servers restarted while MinIO was down ${stats(f.recovery_ms.servers_store_down)}; MinIO ${stats(f.recovery_ms.minio)} (MinIO ready ${stats(f.recovery_ms.minio_ready)})`,
    `  admin job runs: ${f.admin_jobs.ok} ok (${f.admin_jobs.failed_shards} failed shards), ${f.admin_jobs.errors} not answered 200`,
    ...(f.anomalies.length > 0 ? [`  anomalies: ${f.anomalies.join(' | ')}`] : []),
  ].join('\n');
}

function formatTotals(rounds: readonly RoundFigures[], ok: boolean): string {
  const sum = (k: 'acked' | 'lost' | 'duplicated' | 'changed' | 'fivexx' | 'fivexx_outside_outages') => rounds.reduce((s, r) => s + r[k], 0);
  const kills = rounds.reduce((s, r) => ({ servers: s.servers + r.kills.servers, minio: s.minio + r.kills.minio }), { servers: 0, minio: 0 });
  return [
    `chaos ${ok ? 'OK' : 'FAILED'}: ${rounds.length} round(s); acked ${sum('acked')}, lost ${sum('lost')}, duplicated ${sum('duplicated')}, changed ${sum('changed')}; 5xx ${sum('fivexx')} (outside outages ${sum('fivexx_outside_outages')}); kills: servers ${kills.servers}, MinIO ${kills.minio}`,
    `  recovery (restart → first 200): servers ${stats(rounds.flatMap((r) => r.recovery_ms.servers))}; servers restarted while MinIO was down ${stats(rounds.flatMap((r) => r.recovery_ms.servers_store_down))}; MinIO ${stats(rounds.flatMap((r) => r.recovery_ms.minio))}`,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// CLI

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      seed: { type: 'string' },
      servers: { type: 'string' },
      concurrency: { type: 'string' },
      'minio-bin': { type: 'string' },
      json: { type: 'string' },
    },
  });
  const int = (v: string | undefined, name: string, d: number) => {
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) {
      console.error(`--${name}: must be a positive integer`);
      process.exit(2);
    }
    return n;
  };
  const result = await runChaos({
    rounds: int(values.rounds, 'rounds', DEFAULT_CHAOS.rounds),
    seconds: int(values.seconds, 'seconds', DEFAULT_CHAOS.seconds),
    seed: int(values.seed, 'seed', DEFAULT_CHAOS.seed),
    servers: int(values.servers, 'servers', DEFAULT_CHAOS.servers),
    concurrency: int(values.concurrency, 'concurrency', DEFAULT_CHAOS.concurrency),
    minioBin: values['minio-bin'],
  });
  if (values.json !== undefined) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
  }
  process.exit(result.ok ? 0 : 1);
}
