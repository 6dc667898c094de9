/**
 * `usagedb jobs run rollup|compact|gc [--dry-run]`: one bounded run of a background job over
 * every shard, the same entry the scheduler and the admin route use. Exit 1 when a shard failed.
 */
import { JOB_NAMES, runJob, type JobName } from '../../jobs/run.ts';
import { noMorePositionals, type Command } from '../args.ts';
import { CliUsageError, EXIT, type Context } from '../context.ts';

export const jobsCommand: Command = {
  name: 'jobs',
  summary: 'run a background job now: jobs run rollup|compact|gc [--dry-run]',
  help: `usagedb jobs run rollup|compact|gc [--dry-run]

  One bounded step of the job on every shard (as the scheduler runs it); run it again to go on.
  --dry-run            gc only: list what would be deleted, delete nothing`,
  options: { 'dry-run': { type: 'boolean' } },
  async run(ctx: Context, args) {
    const [verb, job] = args.positionals;
    if (verb !== 'run') throw new CliUsageError('usage: usagedb jobs run rollup|compact|gc [--dry-run]');
    if (job === undefined || !(JOB_NAMES as readonly string[]).includes(job))
      throw new CliUsageError(`jobs run: the job must be one of ${JOB_NAMES.join(', ')}`);
    noMorePositionals(args, 2);
    const dryRun = args.values['dry-run'] === true;
    if (dryRun && job !== 'gc') throw new CliUsageError('--dry-run: only gc has a dry run');
    const db = await ctx.open({ probe: true });
    const report = await runJob(db, job as JobName, { ...ctx.config().jobs.options, dryRun });
    ctx.emit(report, () => {
      const lines = [`${job}${dryRun ? ' (dry run)' : ''}: ${report.shards} shard(s), ${report.failed} failed`];
      for (const r of report.results) {
        if (r === undefined) continue;
        const { shard, ...rest } = r as { shard?: number };
        lines.push(`  ${shard === undefined ? 'all' : `shard ${shard}`}: ${JSON.stringify(rest)}`);
      }
      return lines.join('\n');
    });
    return report.failed === 0 ? EXIT.ok : EXIT.problems;
  },
};
