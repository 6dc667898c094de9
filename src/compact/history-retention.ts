/**
 * What GC keeps of a shard's history (docs/compaction-and-gc.md): every generation of the
 * window (the last `generations` that were current within the last `ms`) stays restorable — its edit records and full copies, the chain of
 * records below the window's oldest generation down to the full copy it starts from, and every
 * object those generations reference — and so does the generation each closed period's snapshot
 * was computed from (its history, not its objects). It reads history; it never deletes anything itself.
 */
import { HistoryIncompleteError, HistoryMismatchError, ManifestCorruptError, NotFoundError } from '../errors.ts';
import { chainOf, restorableGenerations, type HistoryIndex, type HistoryRecord } from '../manifest/history.ts';
import type { ManifestStore } from '../manifest/manifest-store.ts';
import { referencedKeys } from '../manifest/references.ts';
import type { DeepReadonly, ShardManifest } from '../manifest/schema.ts';
import type { Deps } from '../model/deps.ts';

export interface HistoryRetention {
  /** The window's oldest generation: history of it or any later generation is never deleted. */
  readonly from: number;
  /** History objects to keep: the window's and the chain its oldest generation needs. */
  readonly history: Set<string>;
  /** Objects the window's generations reference besides the current manifest's. */
  readonly referenced: Set<string>;
  /** Generations of the window history cannot rebuild (what they reference is not kept for them). */
  readonly unrestorable: number[];
}

/**
 * Which generations stay restorable: the last `generations`, and of those only the ones that
 * were current at some moment of the last `ms` (a generation stops being current when the next
 * one is committed; the current one always is).
 */
export interface HistoryWindow {
  readonly generations: number;
  readonly ms: number;
}

/** Pauses while the newest generations' records may still be in flight (written after an answer). */
const IN_FLIGHT_WAITS_MS = [50, 250, 1000];
/** How far below current a record not listed may still be in flight: waited for. */
const IN_FLIGHT_GENERATIONS = 4;
/** Whole generations rebuilt to get past missing records, per run (each costs up to a chain of GETs). */
const MAX_REBUILDS = 4;

/**
 * The window is [current − keep + 1, current], shortened from below to the generations that were
 * current within `window.ms` (read from the records' commit times while walking down). Keys: the current manifest's (the caller's) plus
 * each record's `released` walking down from current — what a generation referenced and the next
 * one no longer does. Where a record is missing, the generation below is rebuilt from its own
 * chain instead (or counted unrestorable).
 */
export async function historyRetention(
  shard: ManifestStore,
  current: DeepReadonly<ShardManifest>,
  index: HistoryIndex,
  window: HistoryWindow,
  deps: Deps,
): Promise<HistoryRetention> {
  let lo = Math.max(1, current.generation - window.generations + 1);
  const since = deps.clock.now() - window.ms;
  const referenced = new Set<string>();
  const unrestorable: number[] = [];
  const restorable = new Set(restorableGenerations(index));
  const waits = [...IN_FLIGHT_WAITS_MS];
  let rebuilds = 0;
  // Invariant: `referenced` ∪ current's keys ⊇ the keys of every generation in [g, current].
  let g = current.generation;
  while (g > lo) {
    // Only the newest generations' records can still be in flight (written after an answer).
    const rec = await recordOf(shard, g, index, g > current.generation - IN_FLIGHT_GENERATIONS ? waits : [], deps);
    if (rec !== null) {
      // Generation g was committed at rec.updated_at_ms: g − 1 stopped being current then. Before
      // the time window, g − 1 and everything below it leave the window (g stays: it is in it).
      if (rec.updated_at_ms < since) {
        lo = g;
        break;
      }
      for (const k of rec.released) referenced.add(k);
      g--;
      continue;
    }
    // Without g's record, what g − 1 referenced is unknown: take it from a rebuilt generation.
    // (Nor is it known when g − 1 stopped being current: the window is not shortened here.)
    let t = g - 1;
    for (; t >= lo; t--) {
      // A full copy is one read (every generation written before incremental history is one);
      // replaying a chain is bounded per run.
      const direct = index.checkpoints.has(t);
      if (restorable.has(t) && (direct || rebuilds < MAX_REBUILDS)) {
        if (!direct) rebuilds++;
        try {
          referencedKeys(await shard.readGeneration(t), referenced);
          break;
        } catch (err) {
          if (
            !(
              err instanceof HistoryIncompleteError ||
              err instanceof HistoryMismatchError ||
              err instanceof NotFoundError ||
              err instanceof ManifestCorruptError
            )
          )
            throw err;
        }
      }
      unrestorable.push(t);
    }
    g = t;
  }

  const history = new Set<string>();
  const keepGeneration = (g: number) => {
    if (index.checkpoints.has(g)) history.add(shard.keys.history(g));
    if (index.records.has(g)) history.add(shard.keys.historyRecord(g));
  };
  for (const g of [...index.checkpoints, ...index.records]) if (g >= lo) keepGeneration(g);
  const keepChain = (target: number) => {
    const chain = chainOf(index, target);
    if (chain.checkpoint !== undefined) for (const g of [chain.checkpoint, ...chain.records]) keepGeneration(g);
  };
  keepChain(lo);
  // A closed period's snapshot was computed from generation G: G stays rebuildable (its history
  // only; its source segments are kept only while a kept generation lists them).
  for (const p of current.periods) if (p.state === 'closed' && p.generation !== undefined && p.generation < lo) keepChain(p.generation);
  return { from: lo, history, referenced, unrestorable: unrestorable.filter((u) => u >= lo).sort((a, b) => a - b) };
}

/** A generation's record; for one not listed yet, a few short waits while it may be in flight. */
async function recordOf(shard: ManifestStore, g: number, index: HistoryIndex, waits: number[], deps: Deps): Promise<HistoryRecord | null> {
  for (;;) {
    try {
      const rec = await shard.historyRecord(g);
      if (rec !== null) return rec;
    } catch (err) {
      if (err instanceof HistoryIncompleteError) return null; // unreadable: as good as missing
      throw err;
    }
    const wait = index.records.has(g) ? undefined : waits.shift();
    if (wait === undefined) return null;
    await deps.clock.sleep(wait);
  }
}
