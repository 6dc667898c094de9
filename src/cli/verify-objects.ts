/**
 * The checks behind `check`: manifest invariants (cheap, from the manifest alone) and, with
 * --deep, every object a manifest references, decoded and compared with its manifest entry.
 * Each finding names the shard, the object and what differs.
 */
import type { DeepReadonly, PeriodEntry, RawSegmentEntry, RollupSegmentEntry, ShardManifest } from '../manifest/schema.ts';
import { hashesOfTail, hasKeyFilter, isLean, readKeyFilter } from '../objects/segment-objects.ts';
import { crc32Hex } from '../segment/raw.ts';
import { decodeRawObject, decodeSegmentHashes, rawQuantity } from '../segment/raw.ts';
import { decodeRollupObject, rollupQuantity } from '../segment/rollup.ts';
import type { ByteRange, ObjectStore } from '../store/types.ts';

export interface Problem {
  readonly shard: number;
  /** What the problem is about: `raw`, `hashes`, `rollup`, `period`, `manifest` or `store`. */
  readonly kind: string;
  /** A segment or rollup id, a period (`account/month`), or `current.json`. */
  readonly id: string;
  readonly message: string;
}

/** Invariants a manifest must hold: unique ids, each raw segment in at most one rollup, rolled_by agrees. */
export function checkManifest(shard: number, m: DeepReadonly<ShardManifest>): Problem[] {
  const out: Problem[] = [];
  const p = (kind: string, id: string, message: string) => out.push({ shard, kind, id, message });
  const seen = new Set<string>();
  for (const s of m.segments) {
    if (seen.has(s.id)) p('raw', s.id, 'listed twice in the manifest');
    seen.add(s.id);
  }
  const rollupIds = new Set<string>();
  const inputOf = new Map<string, string>();
  for (const r of m.rollups) {
    if (rollupIds.has(r.id)) p('rollup', r.id, 'listed twice in the manifest');
    rollupIds.add(r.id);
    for (const id of r.inputs) {
      const other = inputOf.get(id);
      if (other !== undefined) p('raw', id, `is an input of two rollups (${other} and ${r.id}): it would be counted twice`);
      inputOf.set(id, r.id);
    }
  }
  for (const s of m.segments) {
    if (s.rolled_by === undefined) continue;
    if (!rollupIds.has(s.rolled_by)) p('raw', s.id, `rolled_by ${s.rolled_by}, which is not a live rollup: its events are counted nowhere through source=auto`);
    else if (inputOf.get(s.id) !== s.rolled_by) p('raw', s.id, `rolled_by ${s.rolled_by}, but that rollup does not list it as an input`);
  }
  return out;
}

async function fetch(store: ObjectStore, key: string, range?: ByteRange): Promise<Uint8Array | null> {
  const res = await store.get(key, range === undefined ? {} : { range });
  return res === null || res.notModified ? null : res.body;
}

function differs(out: Problem[], shard: number, kind: string, id: string, what: string, stored: unknown, listed: unknown): void {
  if (String(stored) !== String(listed)) out.push({ shard, kind, id, message: `${what}: object has ${String(stored)}, manifest says ${String(listed)}` });
}

/** Reads a raw segment and compares what it holds with its manifest entry. */
export async function checkRawSegment(store: ObjectStore, shard: number, e: DeepReadonly<RawSegmentEntry>): Promise<Problem[]> {
  const out: Problem[] = [];
  // Row groups are written by compaction only (lean, or with hashes after the directory), never with a sidecar.
  if (e.directory_bytes !== undefined && e.hashes_key !== undefined)
    return [{ shard, kind: 'raw', id: e.id, message: 'directory_bytes on a segment with a hashes sidecar' }];
  // The container only (a grouped object's groups and directory): hashes appended to the object are checked by checkHashes.
  const bytes = await fetch(store, e.key, e.hashes_key === undefined ? { offset: 0, length: e.bytes } : undefined);
  if (bytes === null) return [{ shard, kind: 'raw', id: e.id, message: `object ${e.key} is missing` }];
  let cols: ReturnType<typeof decodeRawObject>;
  try {
    cols = decodeRawObject(bytes, e.directory_bytes);
  } catch (err) {
    return [{ shard, kind: 'raw', id: e.id, message: `does not decode: ${(err as Error).message}` }];
  }
  differs(out, shard, 'raw', e.id, 'bytes', bytes.length, e.bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  differs(out, shard, 'raw', e.id, 'checksum', crc32Hex(view.getUint32(bytes.length - 8, true)), e.checksum);
  differs(out, shard, 'raw', e.id, 'rows', cols.rows, e.rows);
  let minTs = Infinity,
    maxTs = -Infinity,
    minIng = Infinity,
    maxIng = -Infinity;
  let sum = 0n;
  let minAcc: string | undefined, maxAcc: string | undefined;
  const acc = cols.account_id!;
  for (let r = 0; r < cols.rows; r++) {
    const t = cols.timestamp_ms![r]!;
    const g = cols.ingested_at_ms![r]!;
    if (t < minTs) minTs = t;
    if (t > maxTs) maxTs = t;
    if (g < minIng) minIng = g;
    if (g > maxIng) maxIng = g;
    sum += rawQuantity(cols, r);
    const a = acc.dict[acc.codes[r]!]!;
    if (minAcc === undefined || a < minAcc) minAcc = a;
    if (maxAcc === undefined || a > maxAcc) maxAcc = a;
  }
  if (cols.rows > 0) {
    differs(out, shard, 'raw', e.id, 'min_ts', minTs, e.min_ts);
    differs(out, shard, 'raw', e.id, 'max_ts', maxTs, e.max_ts);
    differs(out, shard, 'raw', e.id, 'min_ingested', minIng, e.min_ingested);
    differs(out, shard, 'raw', e.id, 'max_ingested', maxIng, e.max_ingested);
    differs(out, shard, 'raw', e.id, 'min_account', minAcc, e.min_account);
    differs(out, shard, 'raw', e.id, 'max_account', maxAcc, e.max_account);
  }
  differs(out, shard, 'raw', e.id, 'quantity_sum', sum, e.quantity_sum);
  return out;
}

/**
 * Reads a segment's hashes (appended to its object, or a legacy sidecar), verifies them by
 * decoding (checksum) and compares the row count; a compacted segment's key filter after them
 * is read and checked too.
 */
export async function checkHashes(store: ObjectStore, shard: number, e: DeepReadonly<RawSegmentEntry>): Promise<Problem[]> {
  if (isLean(e)) {
    // A lean segment is its container alone: nothing may follow it.
    const info = await store.head(e.key);
    return info === null || info.size === e.bytes
      ? []
      : [{ shard, kind: 'hashes', id: e.id, message: `lean segment ${e.key} holds ${info.size} bytes, its container ${e.bytes}` }];
  }
  const where = e.hashes_key === undefined ? `hashes appended to ${e.key}` : `hashes sidecar ${e.hashes_key}`;
  let bytes: Uint8Array | null;
  try {
    // Everything after the container: the hashes, and a key filter before them (or after a version 2 block).
    bytes = await fetch(store, e.hashes_key ?? e.key, e.hashes_key !== undefined ? undefined : { offset: e.bytes });
    if (bytes !== null && e.hashes_key === undefined && e.filter_bytes !== undefined) bytes = hashesOfTail(bytes, e.filter_bytes);
  } catch (err) {
    // A ranged read past the end of a truncated object is refused by S3 (416).
    return [{ shard, kind: 'hashes', id: e.id, message: `${where} cannot be read: ${(err as Error).message}` }];
  }
  if (bytes === null) return [{ shard, kind: 'hashes', id: e.id, message: `${where}: the object is missing` }];
  try {
    const h = decodeSegmentHashes(bytes);
    const out: Problem[] = [];
    differs(out, shard, 'hashes', e.id, 'rows', h.count, e.rows);
    if (hasKeyFilter(e)) {
      try {
        await readKeyFilter(store, e);
      } catch (err) {
        out.push({ shard, kind: 'hashes', id: e.id, message: `key filter appended to ${e.key} does not decode: ${(err as Error).message}` });
      }
    }
    return out;
  } catch (err) {
    return [{ shard, kind: 'hashes', id: e.id, message: `${where} do not decode: ${(err as Error).message}` }];
  }
}

/** Reads a rollup segment and compares rows, sums, counts and hours with its manifest entry. */
export async function checkRollup(store: ObjectStore, shard: number, e: DeepReadonly<RollupSegmentEntry>): Promise<Problem[]> {
  const bytes = await fetch(store, e.key);
  if (bytes === null) return [{ shard, kind: 'rollup', id: e.id, message: `object ${e.key} is missing` }];
  let groups: ReturnType<typeof decodeRollupObject>;
  try {
    groups = decodeRollupObject(bytes, e.directory_bytes);
  } catch (err) {
    return [{ shard, kind: 'rollup', id: e.id, message: `does not decode: ${(err as Error).message}` }];
  }
  const out: Problem[] = [];
  differs(out, shard, 'rollup', e.id, 'bytes', bytes.length, e.bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  differs(out, shard, 'rollup', e.id, 'checksum', crc32Hex(view.getUint32(bytes.length - 8, true)), e.checksum);
  const rows = groups.reduce((n, c) => n + c.rows, 0);
  differs(out, shard, 'rollup', e.id, 'rows', rows, e.rows);
  let sum = 0n;
  let events = 0;
  let minHour = Infinity,
    maxHour = -Infinity;
  for (const cols of groups) {
    for (let r = 0; r < cols.rows; r++) {
      sum += rollupQuantity(cols, r);
      events += cols.event_count![r]!;
      const h = cols.timestamp_ms![r]!;
      if (h < minHour) minHour = h;
      if (h > maxHour) maxHour = h;
    }
  }
  differs(out, shard, 'rollup', e.id, 'quantity_sum', sum, e.quantity_sum);
  differs(out, shard, 'rollup', e.id, 'event_count', events, e.event_count);
  if (rows > 0) {
    differs(out, shard, 'rollup', e.id, 'min_hour_ms', minHour, e.min_hour_ms);
    differs(out, shard, 'rollup', e.id, 'max_hour_ms', maxHour, e.max_hour_ms);
  }
  return out;
}

/** A closed period's frozen invoice lines object must exist. */
export async function checkFrozenPeriod(store: ObjectStore, shard: number, p: DeepReadonly<PeriodEntry>): Promise<Problem[]> {
  if (p.snapshot_key === undefined) {
    return p.state === 'closed' ? [{ shard, kind: 'period', id: `${p.account_id}/${p.month}`, message: 'closed without a snapshot_key' }] : [];
  }
  const info = await store.head(p.snapshot_key);
  return info === null ? [{ shard, kind: 'period', id: `${p.account_id}/${p.month}`, message: `frozen lines object ${p.snapshot_key} is missing` }] : [];
}
