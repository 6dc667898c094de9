/**
 * The objects behind a raw segment entry. A segment is written as ONE object: the segment
 * container, then its hashes block (what the dedupe index and compaction load) appended — one
 * PUT per segment instead of two. Readers fetch either part with a ranged GET: the container
 * is bytes [0, entry.bytes), the hashes [entry.bytes, end). Entries written before this (with a
 * `hashes_key`) keep their hashes in a sidecar object, and are read from there.
 */
import { containerLength } from '../segment/container.ts';
import { SegmentCorruptError } from '../segment/errors.ts';
import { RAW_MAGIC } from '../segment/raw-format.ts';
import type { ObjectStore } from '../store/types.ts';
import type { DeepReadonly, RawSegmentEntry } from './schema.ts';

type EntryRef = Pick<DeepReadonly<RawSegmentEntry>, 'id' | 'key' | 'bytes' | 'hashes_key'>;

/** The object to PUT under an entry's key: the segment container with its hashes appended. */
export function rawSegmentObject(segment: Uint8Array, hashes: Uint8Array): Uint8Array {
  const out = new Uint8Array(segment.byteLength + hashes.byteLength);
  out.set(segment, 0);
  out.set(hashes, segment.byteLength);
  return out;
}

/**
 * A whole raw segment object split into its container and appended hashes (empty for objects
 * written with a sidecar), for readers without the manifest entry (inspecting a replaced segment).
 */
export function splitRawSegmentObject(object: Uint8Array): { segment: Uint8Array; hashes: Uint8Array } {
  const n = Math.min(containerLength(object, RAW_MAGIC), object.length);
  return { segment: object.subarray(0, n), hashes: object.subarray(n) };
}

function missing(seg: EntryRef, what: string, key: string, hint = ''): SegmentCorruptError {
  return new SegmentCorruptError(`${what} of segment ${seg.id} (${key}) is missing${hint}`);
}

/** The segment container (without the appended hashes). */
export async function fetchRawSegment(store: ObjectStore, seg: EntryRef, hint = ''): Promise<Uint8Array> {
  const res = await store.get(seg.key, seg.hashes_key === undefined ? { range: { offset: 0, length: seg.bytes } } : {});
  if (res === null || res.notModified) throw missing(seg, 'the object', seg.key, hint);
  return res.body;
}

/** The segment's hashes block (appended to its object, or its legacy sidecar). */
export async function fetchRawHashes(store: ObjectStore, seg: EntryRef): Promise<Uint8Array> {
  const key = seg.hashes_key ?? seg.key;
  const res = await store.get(key, seg.hashes_key === undefined ? { range: { offset: seg.bytes } } : {});
  if (res === null || res.notModified) throw missing(seg, 'hashes', key, '; dedupe cannot be trusted for this shard');
  return res.body;
}
