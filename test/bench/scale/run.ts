/**
 * bench:scale, one database: builds `days` of history at a fixed event rate in simulated time
 * (in-process library ingest in large batches, the scheduler's job entry `runJobsLogged` once per
 * simulated day with the clock injected), then measures it: manifests, stored objects, a small
 * ingest's commit latency, a fresh server process's first ingest and RSS, and monthly account
 * totals cold and warm over HTTP. The workload is streamed (one batch in memory at a time).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { silentLogger } from '../../../src/api/observability.ts';
import { DEFAULT_INGEST_OPTIONS } from '../../../src/ingest/limits.ts';
import type { DeepReadonly, ShardManifest } from '../../../src/manifest/schema.ts';
import { seededRandom } from '../../../src/model/deps.ts';
import { loadConfig } from '../../../src/runtime/config.ts';
import type { JobName } from '../../../src/jobs/run.ts';
import { runJobsLogged } from '../../../src/runtime/jobs.ts';
import { buildServices, type Services } from '../../../src/runtime/services.ts';
import { listAll, type ObjectStore } from '../../../src/store/types.ts';
import { startOurs, type Running, type S3Target } from '../http/processes.ts';
import { Workload, type WireEvent } from '../workload.ts';
import { SimClock, SimTimeStore } from './sim.ts';

export const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

export type StoreKind = 'fs' | 'minio' | 'memory';

/** Where a database lives: the bench's own handle, and how a server process reaches it. */
export interface StoreTarget {
  readonly kind: StoreKind;
  readonly store: ObjectStore;
  /** Server process store settings; undefined: no process can reach it (memory). */
  readonly server: { readonly kind: 'fs'; readonly dataDir: string } | ({ readonly kind: 's3' } & S3Target) | undefined;
}

export interface SizeSpec {
  readonly label: string;
  readonly days: number;
}

export interface RunOptions {
  readonly eventsPerDay: number;
  readonly accounts: number;
  readonly batch: number;
  /** Simulated days between scheduler job passes. */
  readonly jobsEveryDays: number;
  readonly shards: number | undefined;
  readonly smallCommits: number;
  readonly smallCommitEvents: number;
  readonly coldSamples: number;
  readonly warmReps: number;
  readonly firstIngestEvents: number;
  readonly runId: string;
  readonly log: (line: string) => void;
}

/** The workload's own arithmetic: what every query and count must match. */
export class Truth {
  events = 0;
  quantity = 0;
  windowEvents = 0;
  readonly byAccount = new Map<string, number>();
  readonly accounts: readonly string[];
  readonly month: { readonly from: number; readonly to: number };
  readonly windowFrom: number;
  constructor(accounts: readonly string[], month: { readonly from: number; readonly to: number }, windowFrom: number) {
    this.accounts = accounts;
    this.month = month;
    this.windowFrom = windowFrom;
    for (const a of accounts) this.byAccount.set(a, 0);
  }
  add(events: readonly WireEvent[], ingestedAt: number): void {
    for (const e of events) {
      const q = e.quantity as number;
      this.events++;
      this.quantity += q;
      if (ingestedAt >= this.windowFrom) this.windowEvents++;
      const ts = e.timestamp_ms as number;
      const acct = e.account_id as string;
      const cur = this.byAccount.get(acct);
      if (cur !== undefined && ts >= this.month.from && ts < this.month.to) this.byAccount.set(acct, cur + q);
    }
  }
}

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
export const pct = (s: readonly number[], p: number): number => {
  if (s.length === 0) return Number.NaN;
  const sorted = [...s].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
};
const monthStart = (ms: number) => {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
};
const nextMonth = (ms: number) => {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
};

/** Accounts queried, heavy to tail by Zipf rank. */
export function queryAccounts(n: number): string[] {
  const ranks = [0, 1, 2, 5, 10, 50, 100, 500, 1000, 5000, 20, 200, 2000, 9000];
  return ranks.slice(0, n).map((i) => `acct_${String(i).padStart(6, '0')}`);
}

/** The month a monthly total is asked for: the last complete month inside the history, else the current one. */
function queryMonth(start: number, end: number): { from: number; to: number } {
  const cur = monthStart(end);
  const prev = monthStart(cur - 1);
  return prev >= start ? { from: prev, to: cur } : { from: cur, to: nextMonth(cur) };
}

/** gzip'd NDJSON bytes of the same events, per size (the workload is the same on every store). */
export interface GzipTally {
  events: number;
  bytes: number;
}

function seedFor(days: number, day: number, batch: number): number {
  return ((days * 1_000_003 + day * 131 + batch) >>> 0) + 1;
}

/** Milliseconds spent in each job, over the whole build. */
export const jobMs: Record<string, number> = {};

async function runJobs(services: Services, jobs: readonly JobName[]): Promise<{ committed: number; failed: string[] }> {
  let committed = 0;
  const failed: string[] = [];
  for (const job of jobs) {
    const t0 = performance.now();
    const run = await runJobsLogged(services, [job], silentLogger, { trigger: 'bench:scale' });
    jobMs[job] = (jobMs[job] ?? 0) + performance.now() - t0;
    for (const r of run.reports) {
      for (const x of r.results) if ('error' in x) failed.push(`${job}: ${String(x.error)}`);
      if (job !== 'gc') committed += r.results.filter((x) => x.committed === true).length;
    }
    for (const f of run.failed) if (!failed.some((x) => x.startsWith(`${f}:`))) failed.push(`${f}: failed (no report)`);
  }
  return { committed, failed };
}

/**
 * One pass of the scheduler's jobs: compaction and rollup until a run commits nothing (at most
 * 30 runs), then one GC run (its interval is the longest); failures counted by message.
 */
async function untilQuiet(services: Services, errors: Map<string, number>): Promise<number> {
  const count = (failed: readonly string[]) => {
    for (const f of failed) errors.set(f, (errors.get(f) ?? 0) + 1);
  };
  let runs = 1;
  for (; ; runs++) {
    const tick = await runJobs(services, ['compact', 'rollup']);
    count(tick.failed);
    if (tick.committed === 0 || runs >= 30) break;
  }
  count((await runJobs(services, ['gc'])).failed);
  return runs;
}

/**
 * A client's retry: a batch whose write failed retryably or with an unknown outcome (e.g. a
 * MinIO socket timeout under load) is sent again; dedupe makes that exact (the second answer
 * counts the first attempt's events as duplicates). Retries are counted by message.
 */
async function ingestRetrying(
  services: Services,
  events: readonly WireEvent[],
  retries: Map<string, number>,
): Promise<{ accepted: number; duplicates: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await services.ingestor.ingest(events);
      return { accepted: r.accepted, duplicates: r.duplicates };
    } catch (err) {
      const kind = (err as { kind?: unknown }).kind;
      if (attempt >= 5 || (kind !== 'retryable' && kind !== 'outcome_unknown')) throw err;
      const msg = `${String(kind)}: ${(err as Error).message.replace(/[0-9A-Z]{26}/g, '<id>')}`;
      retries.set(msg, (retries.get(msg) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 1000 * attempt));
    }
  }
}

export interface BuildOutcome {
  readonly services: Services;
  readonly clock: SimClock;
  readonly store: SimTimeStore;
  readonly prefix: string;
  readonly truth: Truth;
  readonly startMs: number;
  readonly endMs: number;
  readonly seconds: { ingest: number; jobs: number; catch_up: number };
  readonly jobTicks: number;
  readonly catchUpRuns: number;
  /** Job failures the scheduler would have logged (message: count); the build goes on, as the scheduler does. */
  readonly jobErrors: Record<string, number>;
  /** Batches sent again after a retryable or unknown-outcome failure, by message. */
  readonly ingestRetries: Record<string, number>;
}

export async function build(target: StoreTarget, size: SizeSpec, o: RunOptions, gz: GzipTally | undefined): Promise<BuildOutcome> {
  const endMs = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
  const startMs = endMs - size.days * DAY_MS;
  const clock = new SimClock(startMs);
  const store = new SimTimeStore(target.store, clock);
  const prefix = `scale/${o.runId}-${size.label}`;
  const config = loadConfig({ USAGEDB_STORE: 'memory', USAGEDB_PREFIX: prefix, ...(o.shards === undefined ? {} : { USAGEDB_SHARDS: String(o.shards) }) });
  const services = await buildServices({ config, store, deps: { clock, random: seededRandom(1) }, logger: silentLogger, loopbackOnly: true });
  const truth = new Truth(queryAccounts(o.coldSamples), queryMonth(startMs, endMs), endMs - DEFAULT_INGEST_OPTIONS.dedupeWindowMs);
  let ingestMs = 0;
  let jobsMs = 0;
  let ticks = 0;
  for (const k of Object.keys(jobMs)) delete jobMs[k];
  const errors = new Map<string, number>();
  const retries = new Map<string, number>();
  const batches = Math.max(1, Math.ceil(o.eventsPerDay / o.batch));
  for (let day = 0; day < size.days; day++) {
    const dayStart = startMs + day * DAY_MS;
    for (let b = 0; b < batches; b++) {
      const n = Math.floor((o.eventsPerDay * (b + 1)) / batches) - Math.floor((o.eventsPerDay * b) / batches);
      const span = Math.floor(DAY_MS / batches);
      const bStart = dayStart + b * span;
      const events = new Workload({ accounts: o.accounts, seed: seedFor(size.days, day, b), startMs: bStart, spanMs: span }).events(n);
      clock.set(bStart + span);
      const t0 = performance.now();
      const r = await ingestRetrying(services, events, retries);
      ingestMs += performance.now() - t0;
      if (r.accepted + r.duplicates !== n) throw new Error(`day ${day} batch ${b}: accepted ${r.accepted} of ${n}: ${JSON.stringify(r).slice(0, 500)}`);
      truth.add(events, clock.now());
      if (gz !== undefined) {
        gz.events += n;
        gz.bytes += gzipSync(`${events.map((e) => JSON.stringify(e)).join('\n')}\n`).length;
      }
    }
    // The scheduler's jobs (its entry, runJobsLogged), every `jobsEveryDays` simulated days, run
    // until none has work left, as a scheduler on its real-time intervals would have by then.
    if ((day + 1) % o.jobsEveryDays === 0 || day === size.days - 1) {
      const t0 = performance.now();
      const runs = await untilQuiet(services, errors);
      // The scheduler's GC (hourly by default) runs again once the replacement grace (15 min)
      // has passed: what the jobs replaced is released then, not at the next pass days later.
      clock.set(clock.now() + 20 * MINUTE_MS);
      for (const f of (await runJobs(services, ['gc'])).failed) errors.set(f, (errors.get(f) ?? 0) + 1);
      jobsMs += performance.now() - t0;
      ticks += runs;
    }
    if (day % 10 === 9 || day === size.days - 1) {
      o.log(
        `  ${size.label} ${target.kind}: day ${day + 1}/${size.days}, ${truth.events} events, ingest ${round(ingestMs / 1000)} s, jobs ${round(jobsMs / 1000)} s (${Object.entries(
          jobMs,
        )
          .map(([k, v]) => `${k} ${round(v / 1000)}`)
          .join(', ')})${errors.size > 0 ? `, job errors: ${[...errors.keys()].join('; ')}` : ''}`,
      );
    }
  }
  // Catch up as a scheduler would once the grace period has passed: jobs until none has work.
  clock.set(endMs + 20 * MINUTE_MS);
  const t0 = performance.now();
  const catchUpRuns = await untilQuiet(services, errors);
  // GC deletes what the catch-up replaced only once it is older than the safety age.
  clock.set(clock.now() + 2 * 60 * MINUTE_MS);
  for (let i = 0; i < 50; i++) {
    const run = await runJobsLogged(services, ['gc'], silentLogger, { trigger: 'bench:scale' });
    const deleted = (run.reports[0]?.results ?? []).reduce((n, r) => n + Number(r.deleted ?? 0), 0);
    if (deleted === 0) break;
  }
  const catchUpMs = performance.now() - t0;
  return {
    services,
    clock,
    store,
    prefix,
    truth,
    startMs,
    endMs,
    seconds: { ingest: round(ingestMs / 1000), jobs: round(jobsMs / 1000), catch_up: round(catchUpMs / 1000) },
    jobTicks: ticks,
    catchUpRuns,
    jobErrors: Object.fromEntries(errors),
    ingestRetries: Object.fromEntries(retries),
  };
}

/**
 * Stored bytes a day later: the scheduler's jobs and GC once more, 25 simulated hours after the
 * last ones, past the restore window (24 h) that keeps what the last jobs replaced. Read beside
 * `storedFigures` right after the jobs, which counts those replaced objects.
 */
export async function storedADayLater(b: BuildOutcome): Promise<StoredFigures> {
  b.clock.set(b.clock.now() + 25 * 60 * MINUTE_MS);
  await untilQuiet(b.services, new Map());
  for (let i = 0; i < 50; i++) {
    const run = await runJobsLogged(b.services, ['gc'], silentLogger, { trigger: 'bench:scale' });
    const deleted = (run.reports[0]?.results ?? []).reduce((n, r) => n + Number(r.deleted ?? 0), 0);
    if (deleted === 0) break;
  }
  return storedFigures(b);
}

export interface StoredFigures {
  readonly objects: number;
  readonly bytes: number;
  readonly by_kind: Record<string, { objects: number; bytes: number }>;
  readonly manifest_bytes_per_shard: { max: number; mean: number; shards: number };
  readonly segments: {
    raw: number;
    rows: number;
    raw_compacted: number;
    raw_rolled: number;
    /** Marked `rollup: 'sparse'`: the rollup job found a rollup of them would not aggregate. */
    raw_sparse?: number;
    rollup: number;
    unreferenced_raw_objects: number;
  };
  readonly older_than_window: { rows: number; bytes: number };
}

/** Lists every object under the database prefix and sorts the bytes by what they are. */
export async function storedFigures(b: BuildOutcome): Promise<StoredFigures> {
  const manifests: DeepReadonly<ShardManifest>[] = [];
  for (const s of b.services.db.shards) manifests.push((await s.revalidate()).manifest);
  const entries = new Map<string, { bytes: number; rows: number; maxIngested: number }>();
  for (const m of manifests) for (const s of m.segments) entries.set(s.key, { bytes: s.bytes, rows: s.rows, maxIngested: s.max_ingested });
  const by: Record<string, { objects: number; bytes: number }> = {};
  const add = (k: string, bytes: number) => {
    const x = (by[k] ??= { objects: 0, bytes: 0 });
    x.objects++;
    x.bytes += bytes;
  };
  let objects = 0;
  let bytes = 0;
  let unreferenced = 0;
  const manifestSizes: number[] = [];
  const windowFrom = b.truth.windowFrom;
  let oldRows = 0;
  let oldBytes = 0;
  for await (const o of listAll(b.store.inner, `${b.prefix}/`)) {
    objects++;
    bytes += o.size;
    const k = o.key;
    if (k.endsWith('/manifest/current.json')) {
      add('manifest_current', o.size);
      manifestSizes.push(o.size);
    } else if (k.includes('/manifest/history/')) add('manifest_history', o.size);
    else if (k.includes('/segments/raw/')) {
      const e = entries.get(k);
      if (e === undefined) {
        unreferenced++;
        add('raw_unreferenced', o.size);
      } else {
        add('raw_data', e.bytes);
        by.raw_data!.objects--; // counted once below as raw objects
        add('raw_hashes', o.size - e.bytes);
        add('raw_objects', 0);
        by.raw_hashes!.objects--;
        if (e.maxIngested < windowFrom) {
          oldRows += e.rows;
          oldBytes += o.size;
        }
      }
    } else if (k.includes('/segments/rollup/')) add('rollup', o.size);
    else if (k.includes('/periods/')) add('periods', o.size);
    else if (k.endsWith('/db.json')) add('db_json', o.size);
    else add('other', o.size);
  }
  const segs = manifests.flatMap((m) => m.segments);
  return {
    objects,
    bytes,
    by_kind: by,
    manifest_bytes_per_shard: {
      max: Math.max(0, ...manifestSizes),
      mean: Math.round(manifestSizes.reduce((a, x) => a + x, 0) / Math.max(1, manifestSizes.length)),
      shards: manifestSizes.length,
    },
    segments: {
      raw: segs.length,
      rows: segs.reduce((n, x) => n + x.rows, 0),
      raw_compacted: segs.filter((s) => s.compacted === true).length,
      raw_rolled: segs.filter((s) => s.rolled_by !== undefined).length,
      raw_sparse: segs.filter((s) => s.rolled_by === undefined && s.rollup === 'sparse').length,
      rollup: manifests.reduce((n, m) => n + m.rollups.length, 0),
      unreferenced_raw_objects: unreferenced,
    },
    older_than_window: { rows: oldRows, bytes: oldBytes },
  };
}

/** Commit latency of a small ingest through the library on the built (warm) instance. */
export async function smallCommits(b: BuildOutcome, o: RunOptions): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < o.smallCommits; i++) {
    const now = b.clock.now();
    const events = new Workload({ accounts: o.accounts, seed: 900_000 + i, startMs: now - MINUTE_MS, spanMs: MINUTE_MS }).events(o.smallCommitEvents);
    const t0 = performance.now();
    const r = await ingestRetrying(b.services, events, new Map());
    out.push(performance.now() - t0);
    if (r.accepted !== events.length) throw new Error(`small ingest accepted ${r.accepted} of ${events.length}`);
    b.truth.add(events, b.clock.now());
  }
  return out;
}

/** VmRSS of a process in bytes (Linux /proc). */
export function rssOf(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Number(m[1]) * 1024;
  } catch {
    return null;
  }
}

/** An HTTP face on the database: a real server process, or (memory store) an in-process app. */
interface Face {
  readonly pid: number | undefined;
  request(path: string, init?: { method: string; body: string }): Promise<{ status: number; body: unknown; ms: number }>;
  stop(): Promise<void>;
}

async function openFace(target: StoreTarget, prefix: string, name: string): Promise<{ face: Face; startMs: number }> {
  const secret = randomBytes(12).toString('hex');
  const t0 = performance.now();
  if (target.server === undefined) {
    const config = loadConfig({ USAGEDB_STORE: 'memory', USAGEDB_PREFIX: prefix });
    const s = await buildServices({
      config,
      store: target.store,
      deps: { clock: { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) }, random: seededRandom(7) },
      logger: silentLogger,
      loopbackOnly: true,
    });
    const face: Face = {
      pid: undefined,
      async request(path, init) {
        const t = performance.now();
        const res = await s.app.request(
          path,
          init === undefined ? undefined : { method: init.method, headers: { 'content-type': 'application/json' }, body: init.body },
        );
        const body: unknown = await res.json();
        return { status: res.status, body, ms: performance.now() - t };
      },
      stop: async () => undefined,
    };
    return { face, startMs: performance.now() - t0 };
  }
  const proc: Running = await startOurs({ store: target.server, prefix, apiKeys: `bench:${secret}:admin`, logLevel: 'warn', name });
  const startMs = performance.now() - t0;
  const headers = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };
  const face: Face = {
    pid: proc.pid,
    async request(path, init) {
      const t = performance.now();
      const res = await fetch(`${proc.url}${path}`, init === undefined ? { headers } : { method: init.method, headers, body: init.body });
      const body: unknown = await res.json();
      return { status: res.status, body, ms: performance.now() - t };
    },
    stop: () => proc.stop(),
  };
  return { face, startMs };
}

export interface FirstIngest {
  readonly startup_ms: number;
  readonly first_ingest_ms: number;
  readonly second_ingest_ms: number;
  readonly rss_after_first_bytes: number | null;
  readonly rss_after_second_bytes: number | null;
}

async function ingestOver(face: Face, events: readonly WireEvent[]): Promise<number> {
  const r = await face.request('/v1/usage/batch', { method: 'POST', body: JSON.stringify({ events }) });
  const body = r.body as { accepted?: number };
  if (r.status !== 200 || body.accepted !== events.length) throw new Error(`ingest over HTTP: ${r.status} ${JSON.stringify(r.body).slice(0, 400)}`);
  return r.ms;
}

/** A fresh process (or instance) on the database: startup, first and second 1,000-event ingest, RSS. */
export async function firstIngest(
  target: StoreTarget,
  prefix: string,
  o: RunOptions,
  truth: Truth | undefined,
  name: string,
): Promise<{ figures: FirstIngest; face: Face }> {
  const { face, startMs } = await openFace(target, prefix, name);
  const batch = (seed: number) => new Workload({ accounts: o.accounts, seed, startMs: Date.now() - MINUTE_MS, spanMs: MINUTE_MS }).events(o.firstIngestEvents);
  const one = batch(800_001);
  const first = await ingestOver(face, one);
  const rss1 = rssOf(face.pid);
  truth?.add(one, Date.now());
  const two = batch(800_002);
  const second = await ingestOver(face, two);
  const rss2 = rssOf(face.pid);
  truth?.add(two, Date.now());
  return {
    figures: {
      startup_ms: round(startMs),
      first_ingest_ms: round(first),
      second_ingest_ms: round(second),
      rss_after_first_bytes: rss1,
      rss_after_second_bytes: rss2,
    },
    face,
  };
}

function totalOf(body: unknown): number {
  const lines = (body as { lines?: { quantity?: unknown }[] }).lines;
  if (!Array.isArray(lines)) return Number.NaN;
  return lines.reduce((n, l) => n + Number(l.quantity ?? Number.NaN), 0);
}

export interface QueryFigures {
  readonly month: { from: string; to: string };
  readonly cold_ms: number[];
  readonly warm_ms: number[];
  readonly exact: boolean;
  readonly mismatches: string[];
}

/** Monthly account totals: cold (each on a fresh process) and warm (repeated on `warm`). */
export async function monthlyTotals(target: StoreTarget, prefix: string, truth: Truth, warm: Face, o: RunOptions, name: string): Promise<QueryFigures> {
  const from = new Date(truth.month.from).toISOString();
  const to = new Date(truth.month.to).toISOString();
  const path = (a: string) => `/v1/accounts/${a}/usage?from=${from}&to=${to}`;
  const mismatches: string[] = [];
  const check = (a: string, body: unknown) => {
    const got = totalOf(body);
    const want = truth.byAccount.get(a) ?? Number.NaN;
    if (got !== want) mismatches.push(`${a}: got ${got} want ${want} (${JSON.stringify(body).slice(0, 200)})`);
  };
  const cold: number[] = [];
  for (const a of truth.accounts) {
    const { face } = await openFace(target, prefix, `${name}-cold-${a}`);
    try {
      const r = await face.request(path(a));
      if (r.status !== 200) throw new Error(`${path(a)}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      cold.push(round(r.ms));
      check(a, r.body);
    } finally {
      await face.stop();
    }
  }
  for (const a of truth.accounts) await warm.request(path(a));
  const warmMs: number[] = [];
  for (let rep = 0; rep < o.warmReps; rep++) {
    for (const a of truth.accounts) {
      const r = await warm.request(path(a));
      warmMs.push(round(r.ms, 2));
      check(a, r.body);
    }
  }
  return { month: { from, to }, cold_ms: cold, warm_ms: warmMs, exact: mismatches.length === 0, mismatches: mismatches.slice(0, 5) };
}
