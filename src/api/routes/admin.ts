/** Admin routes (admin scope): run a background job now, list the conflicts compaction found, resolve one. */
import type { Context, Hono } from 'hono';
import { listConflicts, resolveConflict } from '../../compact/conflicts.ts';
import { ValidationError } from '../../errors.ts';
import { JOB_NAMES, runJob, type JobName, type JobOptions } from '../../jobs/run.ts';
import type { Database } from '../../manifest/database.ts';
import type { AppEnv } from '../env.ts';
import { isJsonObject, parseJsonText, parseStrict, readJson, rejectUnknownFields } from '../json.ts';
import type { Metrics } from '../metrics.ts';
import { onlyParams } from '../params.ts';
import { conflictResolveRequest } from '../schemas.ts';

/**
 * The job route takes its options as query parameters; a body is refused unless empty (or `{}`),
 * so `{"dry_run": true}` sent as a body is a 400 rather than a real GC run.
 */
async function noBody(c: Context<AppEnv>): Promise<void> {
  const text = await c.req.text();
  if (text.trim() === '') return;
  const body = parseJsonText(text);
  if (!isJsonObject(body)) throw new ValidationError('body: this route takes no body (options are query parameters, e.g. ?dry_run=true)', 'body');
  rejectUnknownFields(body, []);
}

export function adminRoutes(app: Hono<AppEnv>, db: Database, metrics: Metrics, jobOptions: JobOptions): void {
  app.post('/v1/admin/jobs/:job', async (c) => {
    const job = c.req.param('job');
    if (!(JOB_NAMES as readonly string[]).includes(job)) throw new ValidationError(`job: must be one of ${JOB_NAMES.join(', ')}`, 'job');
    const dry = onlyParams(c, ['dry_run']).dry_run;
    if (dry !== undefined && dry !== 'true' && dry !== 'false') throw new ValidationError('dry_run: must be true or false', 'dry_run');
    if (dry === 'true' && job !== 'gc') throw new ValidationError('dry_run: only gc has a dry run', 'dry_run');
    await noBody(c);
    try {
      const report = await runJob(db, job as JobName, { ...jobOptions, dryRun: dry === 'true' });
      metrics.observeJob(job, report.failed === 0 ? 'ok' : 'error');
      return c.json(report);
    } catch (err) {
      metrics.observeJob(job, 'error');
      throw err;
    }
  });

  app.get('/v1/admin/conflicts', async (c) => {
    onlyParams(c, []);
    return c.json({ conflicts: await listConflicts(db) });
  });

  app.post('/v1/admin/conflicts/:id/resolve', async (c) => {
    onlyParams(c, []);
    const body = parseStrict(conflictResolveRequest, await readJson(c.req.raw), 'a JSON object {"keep": "first"|"second"|"both", "reason": "..."}');
    return c.json(await resolveConflict(db, c.req.param('id'), body.keep, c.get('actor') ?? 'anonymous', body.reason));
  });
}
