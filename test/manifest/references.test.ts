/**
 * `releasedKeys` walks lists in step instead of building a set of every key: whatever the lists
 * became (entries removed, replaced in place, inserted, appended, reordered), it must say exactly
 * what a set difference of the keys says.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { referencedKeys, releasedKeys } from '../../src/manifest/references.ts';
import { emptyManifest, type RawSegmentEntry, type ShardManifest } from '../../src/manifest/schema.ts';
import { fakeSegment } from '../support/fixtures.ts';

const naive = (before: ShardManifest, after: ShardManifest) => {
  const kept = referencedKeys(after, new Set());
  return [...referencedKeys(before, new Set())].filter((k) => !kept.has(k)).sort();
};

type Op = { kind: 'remove' | 'replace' | 'insert' | 'append' | 'swap' | 'moveToQuarantine'; at: number };

function apply(base: readonly RawSegmentEntry[], ops: Op[], fresh: () => RawSegmentEntry) {
  const segs = [...base];
  const quarantine: RawSegmentEntry[] = [];
  for (const op of ops) {
    const at = segs.length === 0 ? 0 : op.at % segs.length;
    if (op.kind === 'remove') segs.splice(at, 1);
    else if (op.kind === 'replace' && segs[at] !== undefined) segs[at] = { ...segs[at]!, rolled_by: 'r' };
    else if (op.kind === 'insert') segs.splice(at, 0, fresh());
    else if (op.kind === 'append') segs.push(fresh());
    else if (op.kind === 'swap' && segs.length > 1) [segs[0], segs[at]] = [segs[at]!, segs[0]!];
    else if (op.kind === 'moveToQuarantine' && segs[at] !== undefined) quarantine.push(...segs.splice(at, 1));
  }
  return { segs, quarantine };
}

describe('releasedKeys', () => {
  it('equals the set difference of the keys whatever the edits did to the lists', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 120 }),
        fc.array(
          fc.record({ kind: fc.constantFrom('remove', 'replace', 'insert', 'append', 'swap', 'moveToQuarantine'), at: fc.nat(200) }) as fc.Arbitrary<Op>,
          { maxLength: 90 },
        ),
        (n, ops) => {
          let next = 0;
          const fresh = () => fakeSegment(`s${next++}`);
          const before: ShardManifest = { ...emptyManifest(0, 'c', 1), segments: Array.from({ length: n }, fresh) };
          const { segs, quarantine } = apply(before.segments, ops, fresh);
          const after: ShardManifest = { ...before, segments: segs, quarantine };
          expect(releasedKeys(before, after)).toEqual(naive(before, after));
        },
      ),
      { numRuns: 300 },
    );
  });
});
