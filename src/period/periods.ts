/**
 * Billing periods: close, reopen, read, list. A close is ONE commit on the account's shard: the
 * snapshot is computed inside the mutation from the generation G it builds on and committed with
 * If-Match on G's ETag, so an ingest that commits in between makes the close recompute, and any
 * ingest after it sees the period closed. There is no window in which an acknowledged Usage
 * event is neither in the snapshot nor rejected.
 */
import type { Database } from '../manifest/database.ts';
import { SKIP, skip } from '../manifest/manifest-store.ts';
import type { DeepReadonly, PeriodEntry, ShardManifest } from '../manifest/schema.ts';
import { newId } from '../model/deps.ts';
import type { ResultLine } from '../query/aggregate.ts';
import type { QueryEngine } from '../query/engine.ts';
import { ManifestContentionError, NotFoundError } from '../errors.ts';
import { parseMonth, type Month } from './month.ts';

export interface Actor {
  readonly name: string;
  readonly reason: string;
}

interface SnapshotObject {
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
   * the same shard (its mutation is slower than an ingest's), it first commits a cheap `closing`
   * fence — from then on Usage for the period is refused — and then the snapshot commit, which
   * can no longer be overtaken by Usage. Either way no acknowledged Usage event escapes.
   */
  async close(accountId: string, period: string, actor: Actor): Promise<PeriodView & { already_closed: boolean }> {
    const month = parseMonth(period);
    const shard = this.db.shardOf(accountId);
    // "Already closed" is decided without a write (SKIP), so decide it on fresh state.
    await shard.revalidate();
    let res;
    try {
      res = await shard.commit((draft, ctx) => this.closeMutation(draft, ctx.base.manifest.generation, accountId, month, actor), { policy: { maxAttempts: 4 } });
    } catch (err) {
      if (!(err instanceof ManifestContentionError)) throw err;
      await shard.commit((draft) => {
        const entry = draft.periods.find((p) => p.account_id === accountId && p.month === month.name);
        if (entry !== undefined && entry.state !== 'open') return SKIP;
        const fenced = entry ?? { account_id: accountId, month: month.name, state: 'open' as const, adjustments: [], history: [] };
        fenced.state = 'closing';
        fenced.history.push({ action: 'fence', at_ms: this.db.deps.clock.now(), reason: actor.reason, actor: actor.name });
        if (entry === undefined) draft.periods.push(fenced);
        return true;
      });
      res = await shard.commit((draft, ctx) => this.closeMutation(draft, ctx.base.manifest.generation, accountId, month, actor));
    }
    const view = await this.viewOf(accountId, month, res.snapshot.manifest.periods);
    return { ...view, already_closed: res.value === true };
  }

  /** The close commit: snapshot from exactly the state it builds on (generation G). */
  private async closeMutation(draft: ShardManifest, generation: number, accountId: string, month: Month, actor: Actor) {
    const shard = this.db.shardOf(accountId);
    const deps = this.db.deps;
    const existing = draft.periods.find((p) => p.account_id === accountId && p.month === month.name);
    if (existing?.state === 'closed') return skip(true);
    const snap = await this.engine.snapshotFrom(draft.segments, accountId, month.from, month.to);
    const now = deps.clock.now();
    const key = shard.keys.periodSnapshot(newId(deps));
    const body: SnapshotObject = {
      account_id: accountId,
      period: month.name,
      generation,
      closed_at_ms: now,
      quantity: snap.quantity.toString(),
      event_count: snap.count,
      lines: snap.lines,
      source_segments: snap.sources,
    };
    await this.db.store.put(key, new TextEncoder().encode(JSON.stringify(body)), { ifNoneMatch: '*', contentType: 'application/json' });
    const entry: PeriodEntry = existing ?? { account_id: accountId, month: month.name, state: 'open', adjustments: [], history: [] };
    Object.assign(entry, {
      state: 'closed',
      closed_at_ms: now,
      generation,
      snapshot_key: key,
      frozen_quantity: body.quantity,
      frozen_event_count: body.event_count,
      adjustments: [],
    });
    entry.history.push({ action: 'close', at_ms: now, reason: actor.reason, actor: actor.name });
    if (existing === undefined) draft.periods.push(entry);
    return false;
  }

  async reopen(accountId: string, period: string, actor: Actor): Promise<PeriodView & { reopened: boolean; message?: string }> {
    const month = parseMonth(period);
    const deps = this.db.deps;
    // "Not closed, nothing to reopen" is a SKIP: decide it on fresh state, not a stale cache.
    await this.db.shardOf(accountId).revalidate();
    const res = await this.db.shardOf(accountId).commit((draft) => {
      const entry = draft.periods.find((p) => p.account_id === accountId && p.month === month.name);
      if (entry === undefined || entry.state === 'open') return SKIP;
      const now = deps.clock.now();
      entry.state = 'open';
      delete entry.closed_at_ms;
      delete entry.generation;
      delete entry.snapshot_key;
      delete entry.frozen_quantity;
      delete entry.frozen_event_count;
      entry.adjustments = [];
      entry.history.push({ action: 'reopen', at_ms: now, reason: actor.reason, actor: actor.name });
      return true;
    });
    const view = await this.viewOf(accountId, month, res.snapshot.manifest.periods);
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

  /** Reads the frozen snapshot object of a closed period. */
  async snapshotObject(key: string): Promise<SnapshotObject> {
    const res = await this.db.store.get(key);
    if (res === null || res.notModified) throw new NotFoundError(`snapshot ${key} is missing`);
    return JSON.parse(new TextDecoder().decode(res.body)) as SnapshotObject;
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
    const snap = await this.snapshotObject(entry.snapshot_key!);
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
