/**
 * The object keys a manifest keeps alive: what GC must not delete while a generation that lists
 * them is current or restorable, and what a history record says a commit stopped referencing.
 * It reads manifests only; it never decides what to delete.
 */
import type { DeepReadonly, ShardManifest } from './schema.ts';

/** Every object key `m` names, added to `into`. */
export function referencedKeys(m: DeepReadonly<ShardManifest>, into: Set<string>): Set<string> {
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
  return into;
}

/** Keys `before` names that `after` no longer does, sorted. */
export function releasedKeys(before: DeepReadonly<ShardManifest>, after: DeepReadonly<ShardManifest>): string[] {
  const kept = referencedKeys(after, new Set());
  return [...referencedKeys(before, new Set())].filter((k) => !kept.has(k)).sort();
}
