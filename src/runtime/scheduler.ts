/**
 * The Node server's interval scheduler: runs rollup, compaction and GC on their intervals, one
 * run of a job at a time on this instance (other instances may run the same job: the manifest
 * commit resolves it). Stopped on shutdown; off with USAGEDB_JOBS=false.
 */
import type { Metrics } from '../api/metrics.ts';
import type { Logger } from '../api/observability.ts';
import { runJob, type JobName, type JobOptions } from '../jobs/run.ts';
import type { Database } from '../manifest/database.ts';

export interface Scheduler {
  stop(): Promise<void>;
}

export function startScheduler(db: Database, intervals: Record<JobName, number>, logger: Logger, metrics: Metrics, options: JobOptions = {}): Scheduler {
  const running = new Map<JobName, Promise<void>>();
  const timers = (Object.entries(intervals) as [JobName, number][]).map(([job, every]) =>
    setInterval(() => {
      if (running.has(job)) return;
      const started = Date.now();
      const run = runJob(db, job, options)
        .then((r) => {
          metrics.observeJob(job, r.failed === 0 ? 'ok' : 'error');
          logger.info('job run', { job, ms: Date.now() - started, failed_shards: r.failed });
        })
        .catch((err: unknown) => {
          metrics.observeJob(job, 'error');
          logger.error('job failed', { job, error: err instanceof Error ? err.message : String(err) });
        })
        .finally(() => running.delete(job));
      running.set(job, run);
    }, every),
  );
  return {
    async stop() {
      timers.forEach(clearInterval);
      await Promise.all(running.values());
    },
  };
}
