/**
 * The Node server's interval scheduler: runs rollup, compaction and GC on their intervals, one
 * run of a job at a time on this instance (other instances may run the same job: the manifest
 * commit resolves it). Stopped on shutdown; off with USAGEDB_JOBS=false.
 */
import type { Logger } from '../api/observability.ts';
import type { JobName } from '../jobs/run.ts';
import { runJobsLogged } from './jobs.ts';
import type { Services } from './services.ts';

export interface Scheduler {
  stop(): Promise<void>;
}

export function startScheduler(services: Services, intervals: Record<JobName, number>, logger: Logger): Scheduler {
  const running = new Map<JobName, Promise<unknown>>();
  const timers = (Object.entries(intervals) as [JobName, number][]).map(([job, every]) =>
    setInterval(() => {
      if (running.has(job)) return;
      running.set(
        job,
        runJobsLogged(services, [job], logger, { trigger: 'interval' }).finally(() => running.delete(job)),
      );
    }, every),
  );
  return {
    async stop() {
      for (const t of timers) clearInterval(t);
      await Promise.all(running.values());
    },
  };
}
