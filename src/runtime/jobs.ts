/**
 * "Run these jobs and log them", for every runtime that runs jobs on a schedule (the Worker's
 * cron, Lambda's EventBridge handler, the Node interval scheduler): one job after the other,
 * each logged with its report and counted in the metrics; a failing job never stops the next.
 */
import type { LogFields, Logger } from '../api/observability.ts';
import { runJob, type JobName, type JobReport } from '../jobs/run.ts';
import type { Services } from './services.ts';

export interface JobsRun {
  readonly reports: JobReport[];
  /** Jobs that threw or failed on some shard. */
  readonly failed: JobName[];
}

export async function runJobsLogged(services: Services, jobs: readonly JobName[], logger: Logger, fields: LogFields = {}): Promise<JobsRun> {
  const reports: JobReport[] = [];
  const failed: JobName[] = [];
  for (const job of jobs) {
    const started = Date.now();
    try {
      const report = await runJob(services.db, job, services.jobOptions);
      reports.push(report);
      services.metrics.observeJob(job, report.failed === 0 ? 'ok' : 'error');
      const line = { ...fields, job, shards: report.shards, failed: report.failed, ms: Date.now() - started, results: report.results };
      if (report.failed > 0) {
        failed.push(job);
        logger.error('job failed on some shards', line);
      } else logger.info('job finished', line);
    } catch (err) {
      failed.push(job);
      services.metrics.observeJob(job, 'error');
      logger.error('job failed', { ...fields, job, ms: Date.now() - started, error: err instanceof Error ? err.message : String(err) });
    }
  }
  return { reports, failed };
}
