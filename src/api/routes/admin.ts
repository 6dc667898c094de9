/** Admin routes (admin scope): run a background job now, list the conflicts compaction found, resolve one. */
import type { Hono } from 'hono';
import { listConflicts, resolveConflict } from '../../compact/conflicts.ts';
import { ValidationError } from '../../errors.ts';
import { JOB_NAMES, runJob, type JobName, type JobOptions } from '../../jobs/run.ts';
import type { Database } from '../../manifest/database.ts';
import type { AppEnv } from '../env.ts';
import { readJson } from '../json.ts';
import type { Metrics } from '../metrics.ts';
import { conflictResolveRequest } from '../schemas.ts';

export function adminRoutes(app: Hono<AppEnv>, db: Database, metrics: Metrics, jobOptions: JobOptions): void {
  app.post('/v1/admin/jobs/:job', async (c) => {
    const job = c.req.param('job');
    if (!(JOB_NAMES as readonly string[]).includes(job)) throw new ValidationError(`job: must be one of ${JOB_NAMES.join(', ')}`, 'job');
    const dry = c.req.query('dry_run');
    if (dry !== undefined && dry !== 'true' && dry !== 'false') throw new ValidationError('dry_run: must be true or false', 'dry_run');
    if (dry === 'true' && job !== 'gc') throw new ValidationError('dry_run: only gc has a dry run', 'dry_run');
    try {
      const report = await runJob(db, job as JobName, { ...jobOptions, dryRun: dry === 'true' });
      metrics.observeJob(job, report.failed === 0 ? 'ok' : 'error');
      return c.json(report);
    } catch (err) {
      metrics.observeJob(job, 'error');
      throw err;
    }
  });

  app.get('/v1/admin/conflicts', async (c) => c.json({ conflicts: await listConflicts(db) }));

  app.post('/v1/admin/conflicts/:id/resolve', async (c) => {
    const body = conflictResolveRequest.safeParse(await readJson(c.req.raw));
    if (!body.success) {
      const issue = body.error.issues[0]!;
      const field = issue.path.length > 0 ? issue.path.join('.') : ((issue as { keys?: string[] }).keys?.join(', ') ?? 'body');
      throw new ValidationError(`${field}: ${issue.message}`, field);
    }
    return c.json(await resolveConflict(db, c.req.param('id'), body.data.keep, c.get('actor') ?? 'anonymous', body.data.reason));
  });
}
