/**
 * Garbage collection of one shard (bounded): first a commit (`expireReplacements`) that expires
 * replacement records past their grace period, then deletion of objects under the shard that
 * neither the current manifest (its entries and its parts) nor any generation of the history window references, history the
 * window does not need, and whose age — measured with the store's LastModified, never the host
 * clock — exceeds the safety age. It never deletes a referenced object, nor a history object a
 * kept generation needs; a dry run lists what it would delete.
 */
import type { ManifestStore } from '../manifest/manifest-store.ts';
import { referencedKeys } from '../manifest/references.ts';
import { newId, type Deps } from '../model/deps.ts';
import { listAll, type ObjectStore } from '../store/types.ts';
import { HOUR_MS } from '../model/time.ts';
import { historyRetention } from './history-retention.ts';

export { referencedKeys };

export interface GcOptions {
  /** Unreferenced objects younger than this are kept (in-flight ingests, closes, compactions). */
  readonly safetyAgeMs: number;
  /** Generations kept restorable (the window): their history and the objects they reference. */
  readonly historyKeep: number;
  /**
   * Of those, only the ones that were current within this long (a generation stops being current
   * when the next is committed): replaced objects are kept about this long, not `historyKeep` commits.
   */
  readonly historyKeepMs: number;
  /** Deletions per run; unreferenced data objects first, history with what is left. */
  readonly maxDeletes: number;
  readonly dryRun: boolean;
}

export const DEFAULT_GC_OPTIONS: GcOptions = { safetyAgeMs: HOUR_MS, historyKeep: 50, historyKeepMs: 24 * HOUR_MS, maxDeletes: 1000, dryRun: false };

export interface GcReport {
  readonly shard: number;
  readonly dry_run: boolean;
  readonly expired_replacements: number;
  readonly scanned: number;
  readonly referenced: number;
  readonly deleted: number;
  /** Keys deleted (or, in a dry run, that would be): the first 100. */
  readonly keys: string[];
}

/**
 * The store's idea of "now": the LastModified of an object written for the purpose, read from a
 * listing — the same source (and precision: S3 HEAD answers whole seconds, listings milliseconds)
 * as the ages it is compared with.
 */
export async function storeNow(store: ObjectStore, scratchKey: string): Promise<number> {
  await store.put(scratchKey, new TextEncoder().encode('clock'));
  try {
    const page = await store.list(scratchKey, { limit: 1 });
    const info = page.items.find((i) => i.key === scratchKey);
    if (info === undefined) throw new Error('scratch object vanished');
    return info.lastModified.getTime();
  } finally {
    await store.delete(scratchKey);
  }
}

export async function gcShard(
  store: ObjectStore,
  shard: ManifestStore,
  deps: Deps,
  scratchPrefix: string,
  opts: GcOptions = DEFAULT_GC_OPTIONS,
): Promise<GcReport> {
  let expired = 0;
  if (!opts.dryRun) {
    const res = await shard.commit({ op: 'expireReplacements', now_ms: deps.clock.now() });
    if (res.result?.status === 'applied') expired = res.result.value;
  }
  const snap = await shard.revalidate();
  const referenced = new Set<string>([shard.keys.current]);
  referencedKeys(snap.manifest, referenced);
  // The window's generations stay restorable: their history, the chain below it, their objects.
  const retained = await historyRetention(shard, snap.manifest, await shard.historyIndex(), { generations: opts.historyKeep, ms: opts.historyKeepMs }, deps);
  for (const k of retained.referenced) referenced.add(k);
  for (const k of retained.history) referenced.add(k);
  // Manifest parts: those current.json names, and those of every full copy the window keeps
  // (a kept generation is rebuilt from one). Records name no parts: they hold edits.
  for (const k of await shard.partKeys(snap)) referenced.add(k);
  for (const k of retained.history) {
    const e = shard.keys.historyEntry(k);
    if (e?.kind === 'checkpoint') for (const p of await shard.checkpointPartKeys(e.generation)) referenced.add(p);
  }
  const now = await storeNow(store, `${scratchPrefix}/gc-clock-${newId(deps)}`);
  // History sorts first in a listing: data objects get the budget first, history what is left,
  // so a shard with many commits between runs still has its orphaned segments collected.
  const data: string[] = [];
  const history: string[] = [];
  let scanned = 0;
  for await (const obj of listAll(store, `${shard.keys.dir}/`)) {
    scanned++;
    if (referenced.has(obj.key)) continue;
    // The shard's lease (which process commits it) is live state rewritten in place, not garbage.
    if (obj.key === shard.keys.lease) continue;
    if (now - obj.lastModified.getTime() < opts.safetyAgeMs) continue;
    if (obj.key.startsWith(shard.keys.historyPrefix)) {
      // Written since the listing above (a commit after our snapshot): in the window by definition.
      if ((shard.keys.historyEntry(obj.key)?.generation ?? 0) >= retained.from) continue;
      if (history.length < opts.maxDeletes) history.push(obj.key);
    } else {
      data.push(obj.key);
      if (data.length >= opts.maxDeletes) break;
    }
  }
  const doomed = [...data, ...history.slice(0, opts.maxDeletes - data.length)];
  // Re-check against the newest manifest once more before deleting (a 304 when unchanged).
  const fresh = await shard.revalidate();
  if (fresh !== snap) {
    const again = new Set<string>();
    referencedKeys(fresh.manifest, again);
    for (const k of await shard.partKeys(fresh)) again.add(k);
    for (let i = doomed.length - 1; i >= 0; i--) if (again.has(doomed[i]!)) doomed.splice(i, 1);
  }
  if (!opts.dryRun) for (const key of doomed) await store.delete(key);
  return {
    shard: shard.shard,
    dry_run: opts.dryRun,
    expired_replacements: expired,
    scanned,
    referenced: referenced.size,
    deleted: doomed.length,
    keys: doomed.slice(0, 100),
  };
}

/** Deletes probe and clock scratch objects older than the safety age (database-wide). */
export async function gcScratch(store: ObjectStore, scratchPrefix: string, deps: Deps, opts: GcOptions): Promise<number> {
  const now = await storeNow(store, `${scratchPrefix}/gc-clock-${newId(deps)}`);
  let n = 0;
  for await (const obj of listAll(store, `${scratchPrefix}/`)) {
    if (now - obj.lastModified.getTime() < opts.safetyAgeMs) continue;
    if (!opts.dryRun) await store.delete(obj.key);
    n++;
  }
  return n;
}
