/**
 * Billing periods: close, reopen, read, list. A close is ONE commit on the account's shard: the
 * frozen totals are computed from the generation G it builds on and committed (`closePeriod`,
 * which requires G) with If-Match on G's ETag, so an ingest that commits in between makes the close recompute, and any
 * ingest after it sees the period closed. There is no window in which an acknowledged Usage
 * event is neither in the frozen totals nor rejected.
 */
import type { Database } from '../manifest/database.ts';
import { closeInputs, type EditOf } from '../manifest/edits.ts';
import type { Commit, Planner } from '../manifest/manifest-store.ts';
import type { DeepReadonly, PeriodEntry } from '../manifest/schema.ts';
import { bucketOf } from '../model/bucket.ts';
import { newId } from '../model/deps.ts';
import type { ResultLine } from '../query/aggregate.ts';
import type { QueryEngine } from '../query/engine.ts';
import { PeriodTotalizer } from './period-totals.ts';
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
   * Closes a period: one commit when it can. Its frozen totals hold as long as the raw segments
   * that may hold rows of the account-month stay the same (`closePeriod`'s precondition), so
   * commits of other accounts and other months never make it recompute, and a retry after a lost
   * race reuses the totals it computed. If it still keeps losing (the account-month itself is
   * busy), it commits a cheap `closing` fence — Usage for the period refused, corrections told to
   * retry — after which the inputs only change by compaction, and finishes. A fenced period is
   * finished by whoever comes next (this close, another, a read, the rollup job): never stuck.
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
    const close = this.closer(accountId, month, actor);
    let res: Commit<EditOf<'closePeriod'>>;
    try {
      res = await shard.commit(close, { policy: { maxAttempts: 8 } });
    } catch (err) {
      if (!(err instanceof ManifestContentionError)) throw err;
      await shard.commit({
        op: 'fencePeriod',
        account_id: accountId,
        month: month.name,
        at_ms: this.db.deps.clock.now(),
        reason: actor.reason,
        actor: actor.name,
      });
      res = await this.finishFenced(accountId, month, close);
    }
    const view = await this.viewOf(accountId, month, res.state.manifest.periods);
    return { ...view, already_closed: res.result?.status === 'skipped' && res.result.reason === 'already_closed' };
  }

  /**
   * Finishes a fenced (`closing`) period, with the actor and reason of its fence. Safe from any
   * instance at any time: it is an ordinary close of a period whose inputs no longer grow.
   * Answers whether the period is closed now.
   */
  async finish(accountId: string, month: Month): Promise<boolean> {
    const snap = await this.db.shardOf(accountId).revalidate();
    const entry = snap.manifest.periods.find((p) => p.account_id === accountId && p.month === month.name);
    if (entry?.state !== 'closing') return entry?.state === 'closed';
    const fence = [...entry.history].reverse().find((h) => h.action === 'fence');
    const res = await this.finishFenced(accountId, month, this.closer(accountId, month, { name: fence?.actor ?? 'system', reason: fence?.reason ?? '' }));
    return res.result?.status === 'applied' || (res.result?.status === 'skipped' && res.result.reason === 'already_closed');
  }

  /** Finishes every fenced period of a shard (the rollup job calls this); returns how many. */
  async finishShard(shard: number): Promise<number> {
    const snap = await this.db.shards[shard]!.revalidate();
    let done = 0;
    for (const p of snap.manifest.periods) if (p.state === 'closing' && (await this.finish(p.account_id, parseMonth(p.month)))) done++;
    return done;
  }

  private async finishFenced(accountId: string, month: Month, close: Planner<EditOf<'closePeriod'>>): Promise<Commit<EditOf<'closePeriod'>>> {
    try {
      // Other accounts' commits keep changing the inputs on a busy shard (their segments may hold
      // rows of this account-month by their stats), so each attempt re-reads what they added and
      // loses often: keep trying, briefly spaced, for up to 30 s rather than 16 times.
      return await this.db.shardOf(accountId).commit(close, { policy: { maxAttempts: 128, maxDurationMs: 30_000, maxDelayMs: 100 } });
    } catch (err) {
      if (!(err instanceof ManifestContentionError)) throw err;
      throw new ManifestContentionError(
        `period ${month.name} of this account is fenced (Usage refused) but its close kept losing races; the next close, read of the period or rollup job finishes it — retry`,
        { retryAfterSeconds: 2, cause: err },
      );
    }
  }

  /**
   * A planner of the close edit: totals computed from the raw segments that may hold rows of the
   * account-month in the state it builds on, written to an immutable object — and reused as they
   * are when a later attempt finds the same inputs. An already closed period plans an edit that
   * reports `already_closed`, without writing anything.
   */
  private closer(accountId: string, month: Month, actor: Actor): Planner<EditOf<'closePeriod'>> {
    const shard = this.db.shardOf(accountId);
    const deps = this.db.deps;
    const bucket = bucketOf(accountId, this.db.info.bucket_count);
    const totalizer = new PeriodTotalizer(this.engine, accountId, month.from, month.to);
    let frozen: { inputs: string[]; key: string; quantity: string; count: number; generation: number; content: string } | undefined;
    return async (base) => {
      const m = base.manifest;
      const inputs = closeInputs(m.segments, accountId, bucket, month.from, month.to);
      const now = deps.clock.now();
      const edit = {
        op: 'closePeriod' as const,
        account_id: accountId,
        month: month.name,
        bucket,
        inputs,
        at_ms: now,
        reason: actor.reason,
        actor: actor.name,
      };
      if (m.periods.some((p) => p.account_id === accountId && p.month === month.name && p.state === 'closed')) {
        return { ...edit, based_on_generation: m.generation, frozen_key: '', quantity: '0', event_count: 0 };
      }
      if (frozen === undefined || frozen.inputs.join('\u0000') !== inputs.join('\u0000')) {
        const ids = new Set(inputs);
        const totals = await totalizer.totals(m.segments.filter((s) => ids.has(s.id)));
        // New inputs with no rows of the account-month (other accounts' segments) change nothing:
        // the object already written still holds.
        const content = JSON.stringify([totals.lines, totals.sources]);
        if (frozen?.content === content) frozen = { ...frozen, inputs };
        else {
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
          frozen = { inputs, key, quantity: body.quantity, count: body.event_count, generation: m.generation, content };
        }
      }
      return { ...edit, based_on_generation: frozen.generation, frozen_key: frozen.key, quantity: frozen.quantity, event_count: frozen.count };
    };
  }

  async reopen(accountId: string, period: string, actor: Actor): Promise<PeriodView & { reopened: boolean; message?: string }> {
    const month = parseMonth(period);
    const shard = this.db.shardOf(accountId);
    // "Not closed, nothing to reopen" commits nothing: decide it on fresh state, not a stale cache.
    await shard.revalidate();
    const res = await shard.commit({
      op: 'reopenPeriod',
      account_id: accountId,
      month: month.name,
      at_ms: this.db.deps.clock.now(),
      reason: actor.reason,
      actor: actor.name,
    });
    const view = await this.viewOf(accountId, month, res.state.manifest.periods);
    return res.committed ? { ...view, reopened: true } : { ...view, reopened: false, message: 'the period is not closed; nothing to reopen' };
  }

  /** A period as it is; a fenced one is finished first (when it cannot be now, it reads as closing). */
  async get(accountId: string, period: string): Promise<PeriodView> {
    const month = parseMonth(period);
    let snap = await this.db.shardOf(accountId).revalidate();
    if (snap.manifest.periods.some((p) => p.account_id === accountId && p.month === month.name && p.state === 'closing')) {
      await this.finish(accountId, month).catch((err: unknown) => {
        if (!(err instanceof ManifestContentionError)) throw err;
      });
      snap = await this.db.shardOf(accountId).revalidate();
    }
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
      return {
        account_id: accountId,
        period: month.name,
        state: entry?.state ?? 'open',
        live: { quantity, event_count: Number(line?.count ?? 0) },
        net_total: quantity,
        history,
      };
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
