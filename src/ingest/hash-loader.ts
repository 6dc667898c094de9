/**
 * Warms a dedupe index from segments' hashes: a ranged GET of each segment object's hashes block
 * (or its legacy sidecar), never the segment columns, a bounded number at a time, and marks each
 * segment loaded once its rows are in.
 */
import { forEachLimit } from '../lib/pool.ts';
import type { DeepReadonly, RawSegmentEntry } from '../manifest/schema.ts';
import { readRawHashes } from '../objects/segment-objects.ts';
import type { ObjectStore } from '../store/types.ts';
import type { DedupeIndex } from './dedupe-index.ts';

export async function loadSegmentHashes(
  store: ObjectStore,
  index: DedupeIndex,
  segments: readonly DeepReadonly<RawSegmentEntry>[],
  concurrency: number,
): Promise<void> {
  await forEachLimit(segments, concurrency, async (seg) => {
    if (index.loadedSegments.has(seg.id)) return;
    const h = await readRawHashes(store, seg);
    const k = h.keys;
    const p = h.payloads;
    for (let row = 0; row < h.count; row++) {
      const w = row * 3;
      index.insert(k[w]!, k[w + 1]!, k[w + 2]!, p[row]!, h.ingestedSec[row]! * 1000);
    }
    index.loadedSegments.add(seg.id);
  });
}
