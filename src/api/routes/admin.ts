/** Admin routes (admin scope): run a background job now, list conflicts compaction found. */
import type { Context, Hono } from 'hono';
import { ValidationError } from '../../errors.ts';
import { JOB_NAMES, runJob, type JobName, type JobOptions } from '../../jobs/run.ts';
import type { Database } from '../../manifest/database.ts';
import type { AppEnv } from '../env.ts';
import { isJsonObject, parseJsonText, rejectUnknownFields } from '../json.ts';
import type { Metrics } from '../metrics.ts';
import { onlyParams } from '../params.ts';

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
    const snaps = await Promise.all(db.shards.map((s) => s.revalidate()));
    const conflicts = snaps.flatMap((s) => s.manifest.conflicts.map((x) => ({ ...x, shard: s.manifest.shard, found_at: new Date(x.found_at_ms).toISOString() })));
    return c.json({ conflicts });
  });
}
