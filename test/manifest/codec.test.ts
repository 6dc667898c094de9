/**
 * The commit path's manifest encoder writes exactly the bytes JSON.stringify would, while it
 * stringifies each frozen (committed) entry once: for any mix of frozen and fresh entries,
 * absent and undefined fields, and the same entry object shared by several manifests.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringifyManifest } from '../../src/manifest/codec.ts';

const deepFreeze = <T>(v: T): T => {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
};

const entry = fc.record(
  {
    id: fc.string(),
    key: fc.string(),
    rows: fc.nat(),
    min_ts: fc.double({ noNaN: true, noDefaultInfinity: true }),
    buckets: fc.array(fc.nat(64)),
    rolled_by: fc.option(fc.string(), { nil: undefined }),
    compacted: fc.option(fc.boolean(), { nil: undefined }),
    note: fc.oneof(fc.constant(null), fc.string(), fc.dictionary(fc.string(), fc.integer())),
  },
  { requiredKeys: ['id', 'rows'] },
);

describe('stringifyManifest', () => {
  it('equals JSON.stringify for manifests whose lists mix frozen and fresh entries, before and after reuse', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(entry, fc.boolean())),
        fc.array(entry),
        fc.option(fc.string(), { nil: undefined }),
        fc.dictionary(fc.string(), fc.nat()),
        (listed, others, maybe, watermarks) => {
          const segments = listed.map(([e, frozen]) => (frozen ? deepFreeze(e) : e));
          const m = { format: 1, generation: 7, segments, rollups: others, maybe, watermarks, empty: [] as unknown[] };
          expect(stringifyManifest(m)).toBe(JSON.stringify(m));
          // Next generation: the same frozen entries, one more, one dropped.
          const next = { ...m, generation: 8, segments: [...segments.slice(1), deepFreeze({ id: 'new', rows: 1 })] };
          expect(stringifyManifest(next)).toBe(JSON.stringify(next));
          expect(stringifyManifest(m)).toBe(JSON.stringify(m));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('writes undefined, function and symbol list items as null and leaves such fields out, as JSON.stringify does', () => {
    const m = { a: [undefined, () => 1, Symbol('s'), 1], b: undefined, c: () => 2, d: 'x' };
    expect(stringifyManifest(m)).toBe(JSON.stringify(m));
  });
});
