/**
 * `usagedb rebuild-rollups --from T --to T [--dry-run]`: in one commit per shard, drops the
 * rollups whose hours overlap [from, to) and unmarks their raw inputs; the next rollup run
 * (`usagedb jobs run rollup`, or the scheduler) rebuilds them — small segments the next
 * compaction merges with newer events of their days, after that compaction. It also clears the
 * sparse mark of raw segments in the range, so that run reconsiders them. Totals are unchanged
 * throughout.
 */
import { rebuildRollups } from '../../rollup/rebuild.ts';
import { noMorePositionals, rangeFlags, type Command } from '../args.ts';
import { EXIT, iso, table, type Context } from '../context.ts';

export const rebuildRollupsCommand: Command = {
  name: 'rebuild-rollups',
  summary: 'drop rollups overlapping a range and unmark their inputs for the next rollup run',
  help: `usagedb rebuild-rollups --from TIME --to TIME [--dry-run]

  One commit per shard that has a rollup whose hours overlap [from, to): the rollup is dropped
  (its object stays readable for a grace period) and its raw input segments are unmarked, so the
  next \`usagedb jobs run rollup\` rolls them up again. A rollup covering hours outside the range
  is dropped whole, with all its inputs. Raw segments in the range the rollup job marked sparse
  (not worth a rollup) lose the mark, so that run reconsiders them too. Query totals do not
  change at any moment.
  --dry-run            only report what would be dropped`,
  options: { from: { type: 'string' }, to: { type: 'string' }, 'dry-run': { type: 'boolean' } },
  async run(ctx: Context, args) {
    noMorePositionals(args, 0);
    const { from, to } = rangeFlags(args.values, true);
    const dryRun = args.values['dry-run'] === true;
    const db = await ctx.open({ probe: !dryRun });
    const report = await rebuildRollups(db, { from: from!, to: to!, dryRun });
    const touched = report.shards.filter((s) => s.dropped_rollups.length > 0 || s.cleared_sparse > 0);
    ctx.emit({ ...report, from: iso(from), to: iso(to) }, () => {
      const [drop, unmark, clear] = dryRun ? ['would drop', 'would unmark', 'would clear'] : ['dropped', 'unmarked', 'cleared'];
      const lines = [
        `[${iso(from)}, ${iso(to)}): ${drop} ${report.dropped_rollups} rollup(s), ${unmark} ${report.unmarked_segments} raw segment(s), ${clear} the sparse mark of ${report.cleared_sparse} in ${touched.length} shard(s)`,
      ];
      if (touched.length > 0) {
        lines.push(
          table(
            ['shard', 'generation', 'rollups', 'segments', 'rows', 'sparse cleared'],
            touched.map((s) => [s.shard, s.generation, s.dropped_rollups.length, s.unmarked_segments, s.unmarked_rows, s.cleared_sparse]),
          ),
        );
        if (!dryRun) lines.push('next: `usagedb jobs run rollup` (or wait for the scheduler) rebuilds them');
      }
      return lines.join('\n');
    });
    return EXIT.ok;
  },
};
