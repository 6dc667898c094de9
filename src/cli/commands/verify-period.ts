/**
 * `usagedb verify-period --account A --from T --to T`: recomputes the account's total over
 * [from, to) from raw segments only and as source=auto answers it (rollups + unrolled raw), and
 * exits 1 when they differ (non-zero drift or a different event count is a bug).
 */
import { QueryEngine } from '../../query/engine.ts';
import { verify } from '../../query/verify.ts';
import { noMorePositionals, rangeFlags, requireFlag, type Command } from '../args.ts';
import { EXIT, iso, type Context } from '../context.ts';

export const verifyPeriodCommand: Command = {
  name: 'verify-period',
  summary: "recompute an account's total raw vs rollups; exit 1 on drift",
  help: `usagedb verify-period --account ID --from TIME --to TIME

  TIME: RFC 3339 (2026-01-01T00:00:00Z) or a date (2026-01-01, midnight UTC); the range is [from, to).
  Exit 0 when raw and source=auto agree (drift 0, same event count), 1 otherwise.`,
  options: { account: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' } },
  async run(ctx: Context, args) {
    noMorePositionals(args, 0);
    const account = requireFlag(args.values, 'account', 'the account to verify');
    const { from, to } = rangeFlags(args.values, true);
    const db = await ctx.open({ probe: false });
    const engine = new QueryEngine(db, { cacheBytes: 64 * 1024 * 1024 });
    const v = await verify(engine, account, from!, to!);
    const shard = db.shardOf(account).shard;
    ctx.emit({ account_id: account, from: iso(from), to: iso(to), shard, ...v }, () =>
      [
        `account ${account}, [${iso(from)}, ${iso(to)}), shard ${shard} generation ${v.generation}`,
        `  raw scan:      ${v.raw_total} (${v.raw_count} events)`,
        `  rollups+raw:   ${v.rollup_total} (${v.rollup_count} events)`,
        `  drift:         ${v.drift}`,
        `  read: ${v.rollups} rollup(s), ${v.rolled_segments} rolled and ${v.unrolled_segments} unrolled raw segment(s)${v.period_sealed ? '; a closed period overlaps the range' : ''}`,
        v.matches ? 'OK: totals match' : 'DRIFT: raw and rollup totals differ',
      ].join('\n'),
    );
    return v.matches ? EXIT.ok : EXIT.problems;
  },
};
