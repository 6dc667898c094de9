/**
 * One measurement: start the system's process(es) on a fresh database, drive the workload, re-send
 * failed batches like a client would, check exactness and sampled totals against the truth,
 * scrape commit counters, stop everything. Failures are recorded in the result, never thrown.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Shape } from './args.ts';
import { groupCpuMs } from './cpu.ts';
import { checkTotals, diffCounters, scrapeCommits, storedTotal, zeroCounters, type CommitCounters, type StoredTotal, type TotalsCheck } from './check.ts';
import { drive, retryFailed, type Answer, type Batch, type DriveResult, type RetryResult } from './driver.ts';

const sumAnswers = (a: Answer, b: Answer): Answer => ({
  accepted: a.accepted + b.accepted,
  duplicates: a.duplicates + b.duplicates,
  conflicts: a.conflicts + b.conflicts,
  rejected: a.rejected + b.rejected,
});
import { startOurs, startReference, startWorker, tempDir, type Running, type S3Target } from './processes.ts';
import { bodies, generateWorkload, sampleAccountMonths, type AccountMonth, type Workload } from './workload.ts';

/** `worker`: with the shard sequencers (wrangler.toml as is); `worker-direct`: without the binding. */
export type System = 'reference' | 'ours-fs' | 'ours-minio' | 'worker' | 'worker-direct';

export interface Plan {
  readonly system: System;
  /** Server processes; requests go round-robin over them. */
  readonly processes: number;
  readonly shape: Shape;
  readonly events: number;
  /** The table this run belongs to. */
  readonly table: 'main' | 'multi' | 'worker';
}

export interface Context {
  readonly runId: string;
  readonly seed: number;
  readonly sample: number;
  readonly logLevel: string;
  readonly cpuProfDir: string | undefined;
  readonly serverEnv: Readonly<Record<string, string>>;
  /** Multi group: the processes peer (one committer per shard) with this shared token; undefined: direct. */
  readonly peerToken: string | undefined;
  readonly minio: S3Target | undefined;
  readonly referenceBin: string | undefined;
  /** Share of each run's batches sent first as an untimed warm-up (0..0.9). */
  readonly warmup: number;
}

/** Substrings counted in wrangler/workerd output (issue 19). */
export const WORKER_WATCH = ['different request context', 'code had hung'] as const;

export interface RunRecord {
  readonly rep: number;
  readonly table: Plan['table'];
  readonly system: System;
  readonly processes: number;
  readonly batch: number;
  readonly concurrency: number;
  readonly events_sent: number;
  readonly unique_events: number;
  /** Batches sent first and not timed (the processes' warm-up); `drive` times the rest. */
  readonly warmup_batches?: number;
  /** The timed part (its `answers` include the warm-up's, for exactness). */
  readonly drive?: Omit<DriveResult, 'failed_batches'>;
  /**
   * Failed batches re-sent one at a time. `stored_despite_error`: events only failed requests
   * carried that the retry pass found stored already (known only when every retry succeeded).
   */
  readonly retry?: RetryResult & { readonly stored_despite_error: number | null };
  /**
   * `ok`: no conflicts or rejections, every failed batch re-sent successfully, and (ours) the whole
   * database holds each distinct event once (`stored`); the reference, without an all-accounts
   * query, is held to accepted == distinct events. `accepted` equals `unique` only when no request
   * failed: a failed request may have stored some of its events (`retry.stored_despite_error`).
   */
  readonly exact?: { readonly accepted: number; readonly unique: number; readonly ok: boolean; readonly answers: Answer; readonly stored?: StoredTotal };
  readonly totals?: TotalsCheck;
  /** Ours: commit counters over the run, summed over processes, from GET /metrics. */
  readonly commits?: CommitCounters & { readonly lost_races_per_commit: number; readonly events_per_commit: number };
  readonly worker_log?: Record<string, number>;
  /**
   * CPU milliseconds the server processes (not MinIO, not the load driver) spent per 1,000 events
   * answered while driven (Linux /proc): what holds on a noisy machine where events/s swing.
   */
  readonly server_cpu_ms_per_kev?: { readonly user: number; readonly system: number };
  /** Wall time of each phase: start, drive, retry, check (totals + metrics), stop. */
  readonly phases_s?: Record<string, number>;
  /** What else may have weighed on this run. */
  readonly notes?: readonly string[];
  readonly error?: string;
}

interface Prepared {
  readonly workload: Workload;
  readonly sample: readonly AccountMonth[];
  readonly batches: Partial<Record<'ours' | 'reference', Batch[]>>;
}

const prepared = new Map<string, Prepared>();

/** The workload of a shape, generated and serialized once and reused by every system and rep. */
function prepare(ctx: Context, plan: Plan, format: 'ours' | 'reference'): Prepared & { readonly list: Batch[] } {
  const key = `${plan.events}/${plan.shape.batch}`;
  let p = prepared.get(key);
  if (p === undefined) {
    const workload = generateWorkload({ events: plan.events, batch: plan.shape.batch, seed: ctx.seed });
    const heavy = Math.ceil(ctx.sample / 3);
    p = { workload, sample: sampleAccountMonths(workload, heavy, ctx.sample - heavy, ctx.seed), batches: {} };
    prepared.set(key, p);
  }
  const list = (p.batches[format] ??= bodies(p.workload, format).map((body, i) => ({ body, events: p.workload.batches[i]!.length })));
  return { ...p, list };
}

/**
 * Distinct events that occur only in failed batches: with exactly-once ingest the retry pass
 * accepts exactly those a failed request did not store anyway.
 */
function onlyInFailed(w: Workload, failed: readonly number[]): number {
  const failedSet = new Set(failed);
  const inOk = new Set<string>();
  w.batches.forEach((b, i) => {
    if (!failedSet.has(i)) for (const e of b) inOk.add(e.event_id);
  });
  const only = new Set<string>();
  for (const i of failed) for (const e of w.batches[i]!) if (!inOk.has(e.event_id)) only.add(e.event_id);
  return only.size;
}

const randomSecret = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');

export async function runScenario(ctx: Context, plan: Plan, rep: number): Promise<RunRecord> {
  const isRef = plan.system === 'reference';
  const isWorker = plan.system === 'worker' || plan.system === 'worker-direct';
  const { workload, sample, list } = prepare(ctx, plan, isRef ? 'reference' : 'ours');
  const base = {
    rep,
    table: plan.table,
    system: plan.system,
    processes: plan.processes,
    batch: plan.shape.batch,
    concurrency: plan.shape.concurrency,
    events_sent: workload.sent,
    unique_events: workload.unique,
  };
  const secret = randomSecret();
  const headers: Record<string, string> = isRef ? {} : { authorization: `Bearer ${secret}` };
  const apiKeys = `bench:${secret}:admin`;
  const prefix = `bench-http/${ctx.runId}/r${rep}-${plan.table}-${plan.system}-${plan.processes}p-${plan.shape.batch}x${plan.shape.concurrency}`;
  const servers: Running[] = [];
  const dirs: string[] = [];
  let stopped: Promise<void> | undefined;
  const stopAll = () =>
    (stopped ??= (async () => {
      await Promise.all(servers.map((s) => s.stop().catch(() => undefined)));
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    })());
  // workerd's warnings arrive asynchronously: count them once it has stopped.
  const workerLog = async () => {
    if (!isWorker || servers[0] === undefined) return {};
    await stopAll();
    return { worker_log: servers[0].matches() };
  };
  const phases: Record<string, number> = {};
  let mark = performance.now();
  const phase = (name: string) => {
    const now = performance.now();
    phases[name] = Math.round(now - mark) / 1000;
    mark = now;
  };
  try {
    if (plan.system === 'reference') {
      if (ctx.referenceBin === undefined) throw new Error('USAGEDB_REFERENCE_BIN is not set');
      const dir = tempDir('ref');
      dirs.push(dir);
      servers.push(await startReference(ctx.referenceBin, join(dir, 'db')));
    } else if (plan.system === 'ours-fs') {
      const dir = tempDir('fs');
      dirs.push(dir);
      for (let i = 0; i < plan.processes; i++) {
        servers.push(
          await startOurs({
            store: { kind: 'fs', dataDir: dir },
            prefix,
            apiKeys,
            logLevel: ctx.logLevel,
            name: `ours-fs#${i}`,
            cpuProfDir: ctx.cpuProfDir,
            env: ctx.serverEnv,
          }),
        );
      }
    } else {
      if (ctx.minio === undefined) throw new Error('no MinIO endpoint');
      if (isWorker) {
        servers.push(
          await startWorker({
            s3: ctx.minio,
            prefix,
            apiKeys,
            logLevel: ctx.logLevel,
            watch: WORKER_WATCH,
            sequencer: plan.system === 'worker',
            vars: ctx.serverEnv,
          }),
        );
      } else {
        for (let i = 0; i < plan.processes; i++) {
          servers.push(
            await startOurs({
              store: { kind: 's3', ...ctx.minio },
              prefix,
              apiKeys,
              logLevel: ctx.logLevel,
              name: `ours-minio#${i}`,
              cpuProfDir: ctx.cpuProfDir,
              env: ctx.serverEnv,
              ...(plan.table === 'multi' && ctx.peerToken !== undefined ? { peerToken: ctx.peerToken } : {}),
            }),
          );
        }
      }
    }
    const urls = servers.map((s) => s.url);
    const scrape = !isRef && !isWorker;

    phase('start');
    // The first batches warm the processes up (JIT, caches, connections) and are not timed;
    // their answers count for exactness like any other.
    const warmCount = Math.floor(list.length * ctx.warmup);
    const warm = warmCount > 0 ? await drive(urls, headers, list.slice(0, warmCount), plan.shape.concurrency) : undefined;
    phase('warmup');
    const before = scrape ? await Promise.all(urls.map((u) => scrapeCommits(u, headers))) : [];
    const cpuBefore = servers.map((s) => groupCpuMs(s.pid));
    const timed = await drive(urls, headers, list.slice(warmCount), plan.shape.concurrency);
    const cpuAfter = servers.map((s) => groupCpuMs(s.pid));
    phase('drive');
    const result: DriveResult = {
      ...timed,
      answers: warm === undefined ? timed.answers : sumAnswers(warm.answers, timed.answers),
      failed_batches: [...(warm?.failed_batches ?? []), ...timed.failed_batches.map((k) => k + warmCount)],
    };
    let cpu: { user: number; system: number } | undefined = { user: 0, system: 0 };
    for (const [i, after] of cpuAfter.entries()) {
      const before = cpuBefore[i];
      if (after === undefined || before === undefined) cpu = undefined;
      else if (cpu !== undefined) cpu = { user: cpu.user + after.user - before.user, system: cpu.system + after.system - before.system };
    }
    const perKev = (ms: number) => Math.round((ms / (timed.answers.accepted + timed.answers.duplicates)) * 10_000) / 10;
    const notes: string[] = [];
    if (isRef && (phases.start ?? 0) + (phases.drive ?? 0) > 30) {
      notes.push(
        "the run outlasted the reference's 30 s rollup tick: after a memtable flush its rollup worker catches up hour by hour over the three months of timestamps (tens of thousands of rollup files, a busy core, stalled reads)",
      );
    }
    const { failed_batches, ...measured } = result;
    const retried = failed_batches.length > 0 ? await retryFailed(urls, headers, list, failed_batches) : undefined;
    const retry = retried && {
      ...retried,
      stored_despite_error: retried.still_failed + retried.not_retried === 0 ? onlyInFailed(workload, failed_batches) - retried.answers.accepted : null,
    };

    phase('retry');
    const answers: Answer = { ...measured.answers };
    if (retry !== undefined) {
      answers.accepted += retry.answers.accepted;
      answers.duplicates += retry.answers.duplicates;
      answers.conflicts += retry.answers.conflicts;
      answers.rejected += retry.answers.rejected;
    }
    const stored = isRef ? undefined : await storedTotal(urls[0]!, headers, workload.fromMs, workload.spec.endMs, workload.unique, workload.totalQuantity);
    const acknowledgedOnce = answers.accepted === workload.unique;
    const retriesDone = retry === undefined || retry.still_failed + retry.not_retried === 0;
    const ok =
      answers.conflicts === 0 &&
      answers.rejected === 0 &&
      retriesDone &&
      (stored === undefined ? acknowledgedOnce : stored.exact) &&
      (failed_batches.length > 0 || acknowledgedOnce);
    const exact = { accepted: answers.accepted, unique: workload.unique, ok, answers, ...(stored === undefined ? {} : { stored }) };
    // Read through another process than the first when there are several (cross-instance reads).
    // Re-reads look for a read-your-writes gap; pointless when events were lost or never acknowledged.
    const totals = await checkTotals(urls[urls.length - 1]!, headers, sample, isRef ? 'reference' : 'ours', exact.ok ? 10 : 0);

    let commits: RunRecord['commits'];
    if (scrape) {
      const after = await Promise.all(urls.map((u) => scrapeCommits(u, headers)));
      const sum = zeroCounters();
      after.forEach((a, i) => {
        const d = diffCounters(a, before[i]!);
        sum.commits += d.commits;
        sum.lost_races += d.lost_races;
        sum.contention_errors += d.contention_errors;
        sum.ambiguous_writes += d.ambiguous_writes;
      });
      commits = {
        ...sum,
        lost_races_per_commit: sum.commits === 0 ? 0 : Math.round((sum.lost_races / sum.commits) * 100) / 100,
        // Commits are counted over the timed part only.
        events_per_commit: sum.commits === 0 ? 0 : Math.round(timed.answers.accepted / sum.commits),
      };
    }
    phase('check');
    const log = await workerLog();
    await stopAll();
    phase('stop');
    return {
      ...base,
      ...(warmCount > 0 ? { warmup_batches: warmCount } : {}),
      drive: measured,
      ...(cpu === undefined ? {} : { server_cpu_ms_per_kev: { user: perKev(cpu.user), system: perKev(cpu.system) } }),
      ...(retry === undefined ? {} : { retry }),
      exact,
      totals,
      ...(commits === undefined ? {} : { commits }),
      ...log,
      phases_s: phases,
      ...(notes.length === 0 ? {} : { notes }),
    };
  } catch (err) {
    return { ...base, error: (err as Error).message.slice(0, 4000), ...(await workerLog()) };
  } finally {
    await stopAll();
  }
}
