/**
 * Compaction's cold dedupe: what happens to each input row given every other live copy of its
 * idempotency key (account_id, event_id) — in the other live segments it may share a (day,
 * bucket) with, and earlier in this run. An exact duplicate is dropped. A copy with another
 * payload is a conflict: the first-ingested copy stays and the later one is quarantined (out of
 * every total until an admin resolves it); a pair an admin resolved as two events stays.
 * It never drops or quarantines a row on the word of a segment the commit does not require live.
 */
import type { ConflictRecord, DeepReadonly, RawSegmentEntry } from '../manifest/schema.ts';
import type { UsageEvent } from '../model/event.ts';
import { DAY_MS } from '../model/time.ts';
import { hasKeyFilter, readHashPages, readKeyFilter, readRawHashes } from '../objects/segment-objects.ts';
import { eventKey, KEY2_MASK, pagesFor, payloadHash } from '../segment/raw.ts';
import type { ObjectStore } from '../store/types.ts';
import { payloadName, payloadWordHex } from './payload-hex.ts';

/**
 * The 80-bit event key (k0, k1, k2 & KEY2_MASK) at word `at`, as a map key: the bits every
 * hashes block version holds, so a row of a version 2 block and one of version 3 meet.
 */
const keyOf = (k: Uint32Array, at = 0) => `${k[at]! >>> 0},${k[at + 1]! >>> 0},${(k[at + 2]! & KEY2_MASK) >>> 0}`;
/** 32 bits of a payload hash (word `at`), as 8 hex digits (also what conflict records show). */
const payloadOf = (p: Uint32Array, at = 0) => payloadWordHex(p[at]!);

/** A stored copy of an event: where, which payload, ingested when (second precision). */
interface Copy {
  readonly segment: string;
  readonly payload: string;
  readonly second: number;
  /** Compaction will not rewrite it again (it cannot quarantine a copy there later). */
  readonly settled: boolean;
}

/** event key → its copies in the other live segments. */
export type Reference = Map<string, Copy[]>;

/** The event keys of the input rows, 3 words each (what a filtered reference segment is probed with). */
export function inputKeys(events: readonly UsageEvent[]): Uint32Array {
  const out = new Uint32Array(events.length * 3);
  const key = new Uint32Array(4);
  for (let i = 0; i < events.length; i++) out.set(eventKey(events[i]!.account_id, events[i]!.event_id, key).subarray(0, 3), i * 3);
  return out;
}

/**
 * Copies in every other live segment a copy of an input row could be in (same bucket, same UTC
 * day: a copy has the same account and timestamp). Their hashes are read by range: whole blocks
 * of segments without a key filter; of filtered (compacted) segments, given `keys` (the inputs'
 * event keys), only the pages their filters point to — the same structures ingest uses.
 */
export async function loadReference(
  store: ObjectStore,
  live: readonly DeepReadonly<RawSegmentEntry>[],
  inputs: readonly DeepReadonly<RawSegmentEntry>[],
  quarantined: readonly DeepReadonly<RawSegmentEntry>[] = [],
  keys?: Uint32Array,
): Promise<Reference> {
  const quarantine = new Set(quarantined.map((s) => s.id));
  const inputIds = new Set(inputs.map((s) => s.id));
  const days = new Set<number>();
  const buckets = new Set<number>();
  for (const s of inputs) {
    for (let d = Math.floor(s.min_ts / DAY_MS); d <= Math.floor(s.max_ts / DAY_MS); d++) days.add(d);
    for (const b of s.buckets) buckets.add(b);
  }
  const reference: Reference = new Map();
  for (const s of [...live, ...quarantined]) {
    if (inputIds.has(s.id) || !s.buckets.some((b) => buckets.has(b))) continue;
    let overlaps = false;
    for (let d = Math.floor(s.min_ts / DAY_MS); d <= Math.floor(s.max_ts / DAY_MS) && !overlaps; d++) overlaps = days.has(d);
    if (!overlaps) continue;
    const settled = s.compacted === true || quarantine.has(s.id);
    if (keys !== undefined && hasKeyFilter(s)) {
      const block = await readKeyFilter(store, s);
      const pages = new Set<string>();
      for (let i = 0; i < keys.length; i += 3) {
        if (!block.filter.mayContain(keys[i]!, keys[i + 1]!, keys[i + 2]!)) continue;
        const { from, to } = pagesFor(block, keys[i]!);
        pages.add(`${from}:${to}`);
      }
      for (const range of pages) {
        const [from, to] = range.split(':').map(Number) as [number, number];
        for (const row of await readHashPages(store, s, block, from, to)) {
          const k = keyOf(Uint32Array.of(row.k0, row.k1, row.k2));
          let copies = reference.get(k);
          if (copies === undefined) reference.set(k, (copies = []));
          const payload = payloadWordHex(row.p);
          // Overlapping page ranges of one segment list a row once.
          if (copies.some((c) => c.segment === s.id && c.payload === payload && c.second === row.ingestedSec)) continue;
          copies.push({ segment: s.id, payload, second: row.ingestedSec, settled });
        }
      }
      continue;
    }
    const h = await readRawHashes(store, s);
    for (let r = 0; r < h.count; r++) {
      const k = keyOf(h.keys, r * 3);
      let copies = reference.get(k);
      if (copies === undefined) reference.set(k, (copies = []));
      copies.push({ segment: s.id, payload: payloadOf(h.payloads, r), second: h.ingestedSec[r]!, settled });
    }
  }
  return reference;
}

export interface Deduped {
  readonly kept: UsageEvent[];
  /** Later copies of conflicting events, with the record saying why (segment filled in later). */
  readonly quarantined: { readonly event: UsageEvent; readonly record: ConflictRecord }[];
  readonly duplicates: number;
  /** Live segments whose rows justified dropping or quarantining a row: they must stay live. */
  readonly justifiedBy: Set<string>;
  /** Conflicts left counted twice (their later copy is where compaction cannot move it). */
  readonly reported: ConflictRecord[];
}

/** Payload pairs an admin resolved as two distinct events, by event key. */
export type Allowed = ReadonlyMap<string, ReadonlySet<string>>;

/** The payloads of (account, event_id) pairs resolved `both` or `second`, keyed like the reference. */
export function allowedPairs(conflicts: readonly DeepReadonly<ConflictRecord>[]): Allowed {
  const out = new Map<string, Set<string>>();
  const key = new Uint32Array(4);
  for (const c of conflicts) {
    if (c.status !== 'resolved' || c.resolution?.keep === 'first' || c.kept === undefined || c.quarantined === undefined) continue;
    const k = keyOf(eventKey(c.account_id, c.event_id, key));
    const set = out.get(k) ?? new Set<string>();
    // Records written before 32-bit payload names name 64 bits: compared on the first 32.
    set.add(payloadName(c.kept.payload)).add(payloadName(c.quarantined.payload));
    out.set(k, set);
  }
  return out;
}

/** Orders two copies by ingestion: earlier second first, then the smaller payload (both sides agree). */
function before(a: { second: number; payload: string }, b: { second: number; payload: string }): boolean {
  return a.second < b.second || (a.second === b.second && a.payload < b.payload);
}

export function dedupe(events: UsageEvent[], reference: Reference, allowed: Allowed, newId: () => string, nowMs: number): Deduped {
  events.sort((a, b) => a.ingested_at_ms - b.ingested_at_ms);
  /** Copies kept in this run, by key. */
  const seen = new Map<string, { payload: string; event: UsageEvent }[]>();
  const justifiedBy = new Set<string>();
  const kept: UsageEvent[] = [];
  const quarantined: Deduped['quarantined'] = [];
  const reported = new Map<string, ConflictRecord>();
  let duplicates = 0;
  const key = new Uint32Array(4);
  const payload = new Uint32Array(4);
  for (const e of events) {
    const k = keyOf(eventKey(e.account_id, e.event_id, key));
    const p = payloadOf(payloadHash(e, payload));
    const refs = reference.get(k) ?? [];
    const prior = seen.get(k) ?? [];
    const same = refs.find((c) => c.payload === p);
    if (same !== undefined || prior.some((c) => c.payload === p)) {
      duplicates++;
      if (same !== undefined) justifiedBy.add(same.segment);
      continue;
    }
    const others = [
      ...refs,
      ...prior.map((c) => ({ segment: '', payload: c.payload, second: Math.floor(c.event.ingested_at_ms / 1000), settled: false, event: c.event })),
    ];
    const pair = allowed.get(k);
    if (others.length > 0 && !(pair?.has(p) === true && others.every((o) => pair.has(o.payload)))) {
      const mine = { second: Math.floor(e.ingested_at_ms / 1000), payload: p };
      const first = others.reduce((a, b) => (before(b, a) ? b : a));
      if (before(first, mine)) {
        // This copy is the later one: out of the totals until an admin decides.
        if (first.segment !== '') justifiedBy.add(first.segment);
        const firstEvent = 'event' in first ? (first.event as UsageEvent) : undefined;
        quarantined.push({
          event: e,
          record: {
            id: newId(),
            kind: 'payload',
            status: 'quarantined',
            event_id: e.event_id,
            account_id: e.account_id,
            segments: first.segment === '' ? [] : [first.segment],
            found_at_ms: nowMs,
            timestamp_ms: e.timestamp_ms,
            kept: {
              segment: first.segment,
              payload: first.payload,
              ...(firstEvent === undefined ? {} : { quantity: firstEvent.quantity.toString() }),
              ingested_at_ms: firstEvent?.ingested_at_ms ?? first.second * 1000,
            },
            quarantined: { segment: '', payload: p, quantity: e.quantity.toString(), ingested_at_ms: e.ingested_at_ms },
          },
        });
        continue;
      }
      // This copy is the first; a later one sits in a segment compaction will not rewrite again.
      const settledLater = refs.filter((c) => c.settled && before(mine, c));
      if (settledLater.length > 0) {
        reported.set(k, {
          id: newId(),
          kind: 'payload',
          status: 'reported',
          event_id: e.event_id,
          account_id: e.account_id,
          segments: settledLater.map((c) => c.segment),
          found_at_ms: nowMs,
          timestamp_ms: e.timestamp_ms,
        });
      }
    }
    prior.push({ payload: p, event: e });
    seen.set(k, prior);
    kept.push(e);
  }
  return { kept, quarantined, duplicates, justifiedBy, reported: [...reported.values()] };
}
