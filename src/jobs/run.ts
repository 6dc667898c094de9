/**
 * Runs background jobs by name (rollup, compact, gc) over every shard, each run bounded. The
 * same entry serves the Worker's `scheduled` handler, the Node interval scheduler, the admin
 * routes and the CLI. Jobs arrive with the jobs issue; until then a run reports no work.
 */
import type { Database } from '../manifest/database.ts';

export const JOB_NAMES = ['rollup', 'compact', 'gc'] as const;
export type JobName = (typeof JOB_NAMES)[number];

export interface JobReport {
  readonly job: JobName;
  readonly shards: number;
  readonly details: Record<string, unknown>;
}

export async function runJob(_db: Database, job: JobName, _opts: { dryRun?: boolean } = {}): Promise<JobReport> {
  return { job, shards: 0, details: { note: 'not implemented yet' } };
}
