/**
 * Garbage collection of one shard (bounded): first a commit (`expireReplacements`) that expires replacement records
 * past their grace period, then deletion of objects under the shard that neither the current
 * manifest nor any retained history generation references and whose age — measured with the
 * store's LastModified, never the host clock — exceeds the safety age. It never deletes a
 * referenced object; a dry run lists what it would delete.
 */
import { decodeManifest } from '../manifest/codec.ts';
import type { ManifestStore } from '../manifest/manifest-store.ts';
import type { DeepReadonly, ShardManifest } from '../manifest/schema.ts';
import { newId, type Deps } from '../model/deps.ts';
import { listAll, type ObjectStore } from '../store/types.ts';
import { HOUR_MS } from '../model/time.ts';

export interface GcOptions {
  /** Unreferenced objects younger than this are kept (in-flight ingests, closes, compactions). */
  readonly safetyAgeMs: number;
  /** History generations kept (restorable); their objects are referenced too. */
  readonly historyKeep: number;
  readonly maxDeletes: number;
  readonly dryRun: boolean;
}

export const DEFAULT_GC_OPTIONS: GcOptions = { safetyAgeMs: HOUR_MS, historyKeep: 50, maxDeletes: 1000, dryRun: false };

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

/** Every object key a manifest keeps alive. */
export function referencedKeys(m: DeepReadonly<ShardManifest>, into: Set<string>): void {
  for (const s of m.segments) {
    into.add(s.key);
    if (s.hashes_key !== undefined) into.add(s.hashes_key);
  }
  for (const r of m.rollups) into.add(r.key);
  for (const q of m.quarantine ?? []) into.add(q.key);
  for (const rep of m.replacements) {
    for (const i of rep.inputs) {
      into.add(i.key);
      if (i.hashes_key !== undefined) into.add(i.hashes_key);
    }
  }
  for (const p of m.periods) if (p.snapshot_key !== undefined) into.add(p.snapshot_key);
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

export async function gcShard(store: ObjectStore, shard: ManifestStore, deps: Deps, scratchPrefix: string, opts: GcOptions = DEFAULT_GC_OPTIONS): Promise<GcReport> {
  let expired = 0;
  if (!opts.dryRun) {
    const res = await shard.commit({ op: 'expireReplacements', now_ms: deps.clock.now() });
    if (res.result?.status === 'applied') expired = res.result.value;
  }
  const snap = await shard.revalidate();
  const referenced = new Set<string>([shard.keys.current]);
  referencedKeys(snap.manifest, referenced);
  // Retained history generations stay restorable: they and what they reference are kept.
  const gens = await shard.history();
  const retained = gens.filter((g) => g > snap.manifest.generation - opts.historyKeep);
  for (const g of retained) {
    const key = shard.keys.history(g);
    referenced.add(key);
    const res = await store.get(key);
    if (res === null || res.notModified) continue;
    try {
      referencedKeys(decodeManifest(res.body, key), referenced);
    } catch {
      // A corrupt history copy references nothing we can read; keep the copy itself.
    }
  }
  const now = await storeNow(store, `${scratchPrefix}/gc-clock-${newId(deps)}`);
  const doomed: string[] = [];
  let scanned = 0;
  for await (const obj of listAll(store, `${shard.keys.dir}/`)) {
    scanned++;
    if (referenced.has(obj.key)) continue;
    if (now - obj.lastModified.getTime() < opts.safetyAgeMs) continue;
    doomed.push(obj.key);
    if (doomed.length >= opts.maxDeletes) break;
  }
  // Re-check against the newest manifest once more before deleting (a 304 when unchanged).
  const fresh = await shard.revalidate();
  if (fresh !== snap) {
    const again = new Set<string>();
    referencedKeys(fresh.manifest, again);
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
