/**
 * What releases before hashes block version 3 wrote, for tests that must keep reading it: a
 * version 2 block (28-byte rows: 96-bit key, 64-bit payload, id hash, second; sorted by the 96
 * bits) and segment objects laid out container | hashes v2 | filter v1 (the filter after the
 * hashes). Built with the production hashing (EventHasher) and filter encoder.
 */
import { readRawSegmentBytes } from '../../src/objects/segment-objects.ts';
import type { RawSegmentEntry } from '../../src/manifest/schema.ts';
import type { UsageEvent } from '../../src/model/event.ts';
import { crc32 } from '../../src/segment/crc32.ts';
import { decodeRawObject, encodeKeyFilter, EventHasher, HASH_WORDS, ingestedSecond, rawColumnsToEvents } from '../../src/segment/raw.ts';
import type { ObjectStore } from '../../src/store/types.ts';

/** A version 2 hashes block of `events`, byte for byte as the encoder before version 3 wrote it. */
export function encodeHashesV2(events: readonly UsageEvent[]): Uint8Array {
  const n = events.length;
  const words = new Uint32Array(n * HASH_WORDS);
  const hasher = new EventHasher();
  for (let i = 0; i < n; i++) hasher.hashInto(events[i]!, words, i * HASH_WORDS);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => {
    const x = a * HASH_WORDS;
    const y = b * HASH_WORDS;
    return words[x]! - words[y]! || words[x + 1]! - words[y + 1]! || words[x + 2]! - words[y + 2]!;
  });
  const out = new Uint8Array(16 + n * 28 + 4);
  const view = new DataView(out.buffer);
  out.set([0x55, 0x48, 0x53, 0x48]); // "UHSH"
  out[4] = 2;
  view.setUint32(8, n, true);
  let at = 16;
  for (const row of order) {
    const w = row * HASH_WORDS;
    view.setUint32(at, words[w]!, true);
    view.setUint32(at + 4, words[w + 1]!, true);
    view.setUint32(at + 8, words[w + 2]!, true);
    view.setUint32(at + 12, words[w + 4]!, true);
    view.setUint32(at + 16, words[w + 5]!, true);
    view.setUint32(at + 20, words[w + 8]!, true);
    view.setUint32(at + 24, ingestedSecond(events[row]!.ingested_at_ms), true);
    at += 28;
  }
  view.setUint32(at, crc32(out, 0, at), true);
  return out;
}

/**
 * Rewrites a segment this release wrote (same key, same container) as a release before hashes
 * version 3 would have: container | hashes v2, plus a version 1 key filter after them when the
 * entry has a filter. Returns the entry to list (its `filter_bytes` as the old filter's length).
 */
export async function rewriteAsV2<E extends Pick<RawSegmentEntry, 'id' | 'key' | 'bytes' | 'filter_bytes'>>(store: ObjectStore, entry: E): Promise<E> {
  const container = await readRawSegmentBytes(store, entry);
  const events = rawColumnsToEvents(decodeRawObject(container, undefined));
  const hashes = encodeHashesV2(events);
  const filter = entry.filter_bytes === undefined ? new Uint8Array(0) : encodeKeyFilter(hashes);
  const object = new Uint8Array(container.length + hashes.length + filter.length);
  object.set(container, 0);
  object.set(hashes, container.length);
  object.set(filter, container.length + hashes.length);
  await store.put(entry.key, object);
  return entry.filter_bytes === undefined ? entry : { ...entry, filter_bytes: filter.length };
}
