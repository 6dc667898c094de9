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

/** Beyond this many entries left behind, a list is diffed by a set instead of in step. */
const MAX_STEP_MISSES = 64;

/**
 * Entries of `before` that `after` may no longer hold (a superset: an entry reported may still be
 * there; one not reported surely is). Edits keep the order of what they keep (they filter, append
 * and replace in place), so the two lists are walked in step; a list that does not line up is
 * diffed by a set of `after`'s entries.
 */
function leftBehind<T extends object>(before: readonly T[], after: readonly T[], out: T[]): void {
  const start = out.length;
  let j = 0;
  for (let i = 0; i < before.length; i++) {
    const b = before[i]!;
    if (b === after[j]) {
      j++;
      continue;
    }
    out.push(b);
    if (out.length - start > MAX_STEP_MISSES) {
      out.length = start;
      const held = new Set<T>(after);
      for (const x of before) if (!held.has(x)) out.push(x);
      return;
    }
    if (before[i + 1] !== undefined && before[i + 1] === after[j + 1])
      j++; // replaced in place
    else if (before[i + 1] === after[j])
      continue; // removed
    else if (b === after[j + 1]) {
      out.pop(); // something inserted before it
      j += 2;
    }
  }
}

/**
 * Keys `before` names that `after` no longer does, sorted. Only entries of `before` that `after`
 * does not hold (by identity: a draft shares its base's unchanged entries) can release a key, so
 * a commit costs a walk over each list and a look-up per key of what it removed.
 */
export function releasedKeys(before: DeepReadonly<ShardManifest>, after: DeepReadonly<ShardManifest>): string[] {
  const candidates = new Set<string>();
  const segs: DeepReadonly<ShardManifest>['segments'][number][] = [];
  leftBehind(before.segments, after.segments, segs);
  leftBehind(before.quarantine ?? [], after.quarantine ?? [], segs);
  for (const s of segs) {
    candidates.add(s.key);
    if (s.hashes_key !== undefined) candidates.add(s.hashes_key);
  }
  const rolls: DeepReadonly<ShardManifest>['rollups'][number][] = [];
  leftBehind(before.rollups, after.rollups, rolls);
  for (const r of rolls) candidates.add(r.key);
  const reps: DeepReadonly<ShardManifest>['replacements'][number][] = [];
  leftBehind(before.replacements, after.replacements, reps);
  for (const rep of reps) {
    for (const i of rep.inputs) {
      candidates.add(i.key);
      if (i.hashes_key !== undefined) candidates.add(i.hashes_key);
    }
  }
  const periods: DeepReadonly<ShardManifest>['periods'][number][] = [];
  leftBehind(before.periods, after.periods, periods);
  for (const p of periods) if (p.snapshot_key !== undefined) candidates.add(p.snapshot_key);
  if (candidates.size === 0) return [];
  // Drop the candidates `after` still names (moved, or named by another entry too).
  const still = (k: string | undefined) => {
    if (k !== undefined) candidates.delete(k);
  };
  for (const s of after.segments) {
    still(s.key);
    still(s.hashes_key);
  }
  for (const r of after.rollups) still(r.key);
  for (const q of after.quarantine ?? []) still(q.key);
  for (const rep of after.replacements) {
    for (const i of rep.inputs) {
      still(i.key);
      still(i.hashes_key);
    }
  }
  for (const p of after.periods) still(p.snapshot_key);
  return [...candidates].sort();
}
