/**
 * Billing periods: close, reopen, read, list. A close is ONE commit on the account's shard: the
 * frozen totals are computed from the generation G it builds on and committed (`closePeriod`,
 * which requires G) with If-Match on G's ETag, so an ingest that commits in between makes the close recompute, and any
 * ingest after it sees the period closed. There is no window in which an acknowledged Usage
 * event is neither in the frozen totals nor rejected.
 */
import type { Database } from '../manifest/database.ts';
import type { EditOf } from '../manifest/edits.ts';
import type { Commit, CommittedManifest, Planner } from '../manifest/manifest-store.ts';
import type { DeepReadonly, PeriodEntry } from '../manifest/schema.ts';
import { newId } from '../model/deps.ts';
import type { ResultLine } from '../query/aggregate.ts';
import type { QueryEngine } from '../query/engine.ts';
import { periodTotals } from './period-totals.ts';
import { ManifestContentionError, ValidationError } from '../errors.ts';
import { SegmentCorruptError } from '../segment/errors.ts';
import { parseMonth, type Month } from '../model/periods.ts';

export interface Actor {
  readonly name: string;
  readonly reason: string;
  /** Close a period that has not ended yet (needs a reason). */
  readonly force?: boolean;
}

/** The immutable object a close writes: the frozen invoice lines and where they came from. */
interface FrozenPeriod {
  readonly account_id: string;
  readonly period: string;
  readonly generation: number;
  readonly closed_at_ms: number;
  readonly quantity: string;
  readonly event_count: number;
  readonly lines: ResultLine[];
  readonly source_segments: string[];
}

export interface PeriodView {
  readonly account_id: string;
  readonly period: string;
  readonly state: 'open' | 'closing' | 'closed';
  readonly [key: string]: unknown;
}

const iso = (ms: number) => new Date(ms).toISOString();

export class PeriodService {
  private readonly db: Database;
  private readonly engine: QueryEngine;

  constructor(db: Database, engine: QueryEngine) {
    this.db = db;
    this.engine = engine;
  }

  /**
   * Closes a period in one commit when it can. If that commit keeps losing races to ingest on
   * the same shard (computing the frozen totals is slower than an ingest), it first commits a
   * cheap `closing` fence — from then on Usage for the period is refused — and then the close,
   * which can no longer be overtaken by Usage. Either way no acknowledged Usage event escapes.
   */
  async close(accountId: string, period: string, actor: Actor): Promise<PeriodView & { already_closed: boolean }> {
    const month = parseMonth(period);
    if (month.to > this.db.deps.clock.now()) {
      // Closing early refuses every Usage event of the rest of the month: only on purpose.
      if (actor.force !== true) {
        throw new ValidationError(
          `period: ${month.name} has not ended yet (it ends ${new Date(month.to).toISOString()}); closing it now refuses its Usage events until then — send {"force": true, "reason": "..."} to close it anyway`,
          'period',
        );
      }
      if (actor.reason.trim() === '') throw new ValidationError('reason: required to close a period that has not ended (force)', 'reason');
    }
    const shard = this.db.shardOf(accountId);
    // "Already closed" is decided without a write, so decide it on fresh state.
    await shard.revalidate();
    const close: Planner<EditOf<'closePeriod'>> = (base) => this.planClose(base, accountId, month, actor);
    let res: Commit<EditOf<'closePeriod'>>;
    try {
      res = await shard.commit(close, { policy: { maxAttempts: 4 } });
    } catch (err) {
      if (!(err instanceof ManifestContentionError)) throw err;
      await shard.commit({ op: 'fencePeriod', account_id: accountId, month: month.name, at_ms: this.db.deps.clock.now(), reason: actor.reason, actor: actor.name });
      res = await shard.commit(close);
    }
    const view = await this.viewOf(accountId, month, res.state.manifest.periods);
    return { ...view, already_closed: res.result?.status === 'skipped' && res.result.reason === 'already_closed' };
  }

  /**
   * The close edit for the state it builds on (generation G): frozen totals computed from exactly
   * that state, written to an immutable object first. A close that is already there plans nothing
   * new: the edit reports it as `already_closed` without writing the object.
   */
  private async planClose(base: CommittedManifest, accountId: string, month: Month, actor: Actor): Promise<EditOf<'closePeriod'>> {
    const m = base.manifest;
    const shard = this.db.shardOf(accountId);
    const deps = this.db.deps;
    const now = deps.clock.now();
    const edit = { op: 'closePeriod' as const, account_id: accountId, month: month.name, based_on_generation: m.generation, at_ms: now, reason: actor.reason, actor: actor.name };
    if (m.periods.some((p) => p.account_id === accountId && p.month === month.name && p.state === 'closed')) {
      return { ...edit, frozen_key: '', quantity: '0', event_count: 0 };
    }
    const totals = await periodTotals(this.engine, m.segments, accountId, month.from, month.to);
    const key = shard.keys.frozenPeriod(newId(deps));
    const body: FrozenPeriod = {
      account_id: accountId,
      period: month.name,
      generation: m.generation,
      closed_at_ms: now,
      quantity: totals.quantity.toString(),
      event_count: totals.count,
      lines: totals.lines,
      source_segments: totals.sources,
    };
    await this.db.store.put(key, new TextEncoder().encode(JSON.stringify(body)), { ifNoneMatch: '*', contentType: 'application/json' });
    return { ...edit, frozen_key: key, quantity: body.quantity, event_count: body.event_count };
  }

  async reopen(accountId: string, period: string, actor: Actor): Promise<PeriodView & { reopened: boolean; message?: string }> {
    const month = parseMonth(period);
    const shard = this.db.shardOf(accountId);
    // "Not closed, nothing to reopen" commits nothing: decide it on fresh state, not a stale cache.
    await shard.revalidate();
    const res = await shard.commit({ op: 'reopenPeriod', account_id: accountId, month: month.name, at_ms: this.db.deps.clock.now(), reason: actor.reason, actor: actor.name });
    const view = await this.viewOf(accountId, month, res.state.manifest.periods);
    return res.committed ? { ...view, reopened: true } : { ...view, reopened: false, message: 'the period is not closed; nothing to reopen' };
  }

  async get(accountId: string, period: string): Promise<PeriodView> {
    const month = parseMonth(period);
    const snap = await this.db.shardOf(accountId).revalidate();
    return this.viewOf(accountId, month, snap.manifest.periods);
  }

  /** Periods of the account that have been closed at least once. */
  async list(accountId: string): Promise<{ account_id: string; periods: Record<string, unknown>[] }> {
    const snap = await this.db.shardOf(accountId).revalidate();
    const periods = snap.manifest.periods
      .filter((p) => p.account_id === accountId)
      .map((p) => ({
        period: p.month,
        state: p.state,
        ...(p.state === 'closed'
          ? {
              closed_at: iso(p.closed_at_ms!),
              frozen_quantity: p.frozen_quantity,
              adjustments_quantity: sumAdjustments(p).toString(),
              net_total: (BigInt(p.frozen_quantity!) + sumAdjustments(p)).toString(),
            }
          : {}),
        transitions: p.history.length,
      }))
      .sort((a, b) => (a.period < b.period ? -1 : 1));
    return { account_id: accountId, periods };
  }

  /** Reads the frozen invoice lines object of a closed period. */
  async frozenLines(key: string): Promise<FrozenPeriod> {
    const res = await this.db.store.get(key);
    if (res === null || res.notModified) throw new SegmentCorruptError(`the frozen lines object of a closed period (${key}) is missing`);
    return JSON.parse(new TextDecoder().decode(res.body)) as FrozenPeriod;
  }

  private async viewOf(accountId: string, month: Month, periods: readonly DeepReadonly<PeriodEntry>[]): Promise<PeriodView> {
    const entry = periods.find((p) => p.account_id === accountId && p.month === month.name);
    const history = (entry?.history ?? []).map((h) => ({ ...h, at: iso(h.at_ms) }));
    if (entry === undefined || entry.state !== 'closed') {
      const live = await this.engine.aggregate({
        accountId,
        from: month.from,
        to: month.to,
        groupBy: [],
        filters: [],
        metrics: ['sum', 'count'],
        source: 'auto',
        orderBy: [],
        limit: undefined,
      });
      const line = live.lines[0];
      const quantity = line === undefined ? '0' : String(line.quantity);
      return { account_id: accountId, period: month.name, state: entry?.state ?? 'open', live: { quantity, event_count: Number(line?.count ?? 0) }, net_total: quantity, history };
    }
    const snap = await this.frozenLines(entry.snapshot_key!);
    const adjustments = sumAdjustments(entry);
    return {
      account_id: accountId,
      period: month.name,
      state: 'closed',
      closed_at: iso(entry.closed_at_ms!),
      generation: entry.generation,
      source_segments: snap.source_segments,
      frozen: { quantity: entry.frozen_quantity, event_count: entry.frozen_event_count, lines: snap.lines },
      pending_adjustments: entry.adjustments,
      adjustments_quantity: adjustments.toString(),
      net_total: (BigInt(entry.frozen_quantity!) + adjustments).toString(),
      history,
    };
  }
}

function sumAdjustments(p: DeepReadonly<PeriodEntry>): bigint {
  return p.adjustments.reduce((s, a) => s + BigInt(a.quantity), 0n);
}
