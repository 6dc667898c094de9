/**
 * Verify: an account's total over [from, to) computed both ways — from raw segments only, and as
 * `auto` answers (rollups + unrolled raw + rolled raw for cut hours). Any drift is a bug.
 */
import { Aggregator } from './aggregate.ts';
import { accountSpec, type QueryEngine } from './engine.ts';

export interface Verification {
  readonly generation: number;
  /** Total and count from a scan of raw segments only. */
  readonly raw_total: string;
  readonly raw_count: number;
  /** Total and count as `auto` answers: rollups + unrolled raw (+ rolled raw for cut hours). */
  readonly rollup_total: string;
  readonly rollup_count: number;
  readonly drift: string;
  readonly matches: boolean;
  readonly rolled_segments: number;
  readonly unrolled_segments: number;
  readonly rollups: number;
  /** Whether a closed (or closing) billing period overlaps the range. */
  readonly period_sealed: boolean;
}

export async function verify(engine: QueryEngine, accountId: string, from: number, to: number): Promise<Verification> {
  const snap = await engine.accountManifest(accountId);
  const base = accountSpec(accountId, from, to);
  const autoSpec = { ...base, source: 'auto' as const };
  const raw = new Aggregator(base);
  const auto = new Aggregator(autoSpec);
  await engine.run([engine.plan(snap.manifest, base)], base, raw);
  const autoPlan = engine.plan(snap.manifest, autoSpec);
  await engine.run([autoPlan], autoSpec, auto);
  const r = raw.lines()[0];
  const a = auto.lines()[0];
  const rt = BigInt(String(r?.quantity ?? '0'));
  const at = BigInt(String(a?.quantity ?? '0'));
  const sealed = snap.manifest.periods.some((p) => {
    if (p.account_id !== accountId || p.state === 'open') return false;
    const [y, m] = p.month.split('-').map(Number) as [number, number];
    return Date.UTC(y, m - 1, 1) < to && Date.UTC(y, m, 1) > from;
  });
  return {
    generation: snap.manifest.generation,
    raw_total: rt.toString(),
    raw_count: Number(r?.count ?? 0),
    rollup_total: at.toString(),
    rollup_count: Number(a?.count ?? 0),
    drift: (at - rt).toString(),
    matches: at === rt && Number(r?.count ?? 0) === Number(a?.count ?? 0),
    rolled_segments: autoPlan.rolledRaw.length,
    unrolled_segments: autoPlan.raw.length,
    rollups: autoPlan.rollups.length,
    period_sealed: sealed,
  };
}
