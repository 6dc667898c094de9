import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketOf } from '../../src/model/bucket.ts';
import { canonicalPayload, type UsageEvent } from '../../src/model/event.ts';
import { eventHash, hashString128, hex128, murmur3x86_128 } from '../../src/model/hash.ts';
import { HashScratch, murmurScratch } from '../../src/segment/murmur.ts';
import { PayloadEncoder } from '../../src/segment/payload.ts';
import { crc32 } from '../../src/segment/crc32.ts';
import {
  decodeSegmentHashes,
  encodeRawSegment,
  encodeSegmentHashes,
  EventHasher,
  eventKey,
  HASH_WORDS,
  isVersion1,
  payloadHash,
} from '../../src/segment/raw.ts';
import { SegmentCorruptError } from '../../src/segment/errors.ts';
import { encodeHashesV2 } from '../support/hashes-v2.ts';
import { eventArb, realisticEvents, ulidEventArb } from './arbitraries.ts';

const buckets = (a: string) => bucketOf(a, 64);

const golden: UsageEvent = {
  event_id: '01JZ8Q3V6W9X2Y4Z5A7B8C9D0E',
  kind: 'Correction',
  correction_ref: { original_event_id: 'evt-1', reason: 'double "count"' },
  account_id: 'cus_ünï',
  subscription_id: null,
  product_id: 'llm',
  meter_id: 'output_tokens',
  model_id: 'claude-sonnet',
  source: 'api',
  unit: 'token',
  timestamp_ms: 1_760_000_000_123,
  quantity: -(2n ** 100n),
  dimensions: { region: 'eu-west-1', tier: 'pro' },
  ingested_at_ms: 1_760_000_000_999,
};

describe('payload hash', () => {
  it('is murmur3x86_128 of the UTF-8 canonical payload, pinned', () => {
    expect(hex128(payloadHash(golden))).toBe(hex128(hashString128(canonicalPayload(golden))));
    expect(hex128(payloadHash(golden))).toBe('d93222c104ae6a925e0db634e79580d1');
  });

  it('the fast payload writer produces exactly canonicalPayload (property)', () => {
    const pe = new PayloadEncoder();
    const dec = new TextDecoder('utf-8', { ignoreBOM: true });
    fc.assert(
      fc.property(fc.oneof(eventArb, ulidEventArb), (e) => {
        expect(dec.decode(pe.encode(e))).toBe(canonicalPayload(e));
      }),
      { numRuns: 500 },
    );
    expect(dec.decode(pe.encode(golden))).toBe(canonicalPayload(golden));
  });
});

describe('word-reading murmur twin', () => {
  it('equals model/hash.ts murmur3x86_128 for every length and content (property)', () => {
    const s = new HashScratch(8);
    const out = new Uint32Array(4);
    for (let len = 0; len <= 70; len++) {
      const bytes = Uint8Array.from({ length: len }, (_, i) => (i * 151 + len * 7) & 255);
      s.ensure(len);
      s.bytes.set(bytes);
      murmurScratch(s, len, out);
      expect(Array.from(out)).toEqual(Array.from(murmur3x86_128(bytes)));
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        s.ensure(bytes.length);
        s.bytes.set(bytes);
        murmurScratch(s, bytes.length, out);
        expect(Array.from(out)).toEqual(Array.from(murmur3x86_128(bytes)));
      }),
      { numRuns: 300 },
    );
  });
});

/** Each row as "key|payload|id|second" in the 80-bit key and 32-bit payload, from an independent computation. */
const expected = (events: readonly UsageEvent[]) =>
  events
    .map((e) => {
      const key = eventKey(e.account_id, e.event_id);
      const payload = payloadHash(e);
      return `${key[0]},${key[1]},${key[2]! & 0xffff}|${payload[0]}|${eventHash(e.event_id)[0]}|${Math.min(2 ** 32 - 1, Math.floor(e.ingested_at_ms / 1000))}`;
    })
    .sort();

const decoded = (bytes: Uint8Array) => {
  const h = decodeSegmentHashes(bytes);
  if (isVersion1(h)) throw new Error('written as version 1');
  const rows = Array.from(
    { length: h.count },
    (_, i) => `${h.keys[i * 3]},${h.keys[i * 3 + 1]},${h.keys[i * 3 + 2]}|${h.payloads[i]}|${h.ids[i]}|${h.ingestedSec[i]}`,
  );
  return { h, rows };
};

describe('hashes block (version 3)', () => {
  const check = (events: readonly UsageEvent[]) => {
    const enc = encodeRawSegment(events, buckets);
    expect(enc.hashes[4]).toBe(3);
    // 22 bytes a row: 80-bit key, 32-bit payload, 32-bit id hash, u32 second; 16 of header, 4 of CRC.
    expect(enc.hashes.length).toBe(16 + 22 * events.length + 4);
    const { h, rows } = decoded(enc.hashes);
    expect(h.count).toBe(events.length);
    expect([...rows].sort()).toEqual(expected(events));
    // Sorted by event key (unsigned words), so a reader can search it.
    for (let i = 1; i < h.count; i++) {
      const a = [h.keys[i * 3 - 3]!, h.keys[i * 3 - 2]!, h.keys[i * 3 - 1]!];
      const b = [h.keys[i * 3]!, h.keys[i * 3 + 1]!, h.keys[i * 3 + 2]!];
      expect(a[0]! < b[0]! || (a[0] === b[0] && (a[1]! < b[1]! || (a[1] === b[1] && a[2]! <= b[2]!)))).toBe(true);
    }
    return enc;
  };

  it("holds every row's key, payload, id hash and second, sorted by key (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(eventArb, ulidEventArb), { maxLength: 30 }), (events) => {
        check(events);
      }),
      { numRuns: 150 },
    );
  });

  it("matches on a realistic batch; the standalone encoder and ingest's precomputed hashes agree", () => {
    const events = realisticEvents(2000, 5);
    const enc = check(events);
    expect(encodeSegmentHashes(events)).toEqual(enc.hashes);
    const words = new Uint32Array(events.length * HASH_WORDS);
    const hasher = new EventHasher();
    events.forEach((e, i) => {
      hasher.hashInto(e, words, i * HASH_WORDS);
    });
    expect(encodeRawSegment(events, buckets, { hashes: words }).hashes).toEqual(enc.hashes);
  });

  it('keys on (account_id, event_id): one id under two accounts has two keys and one id hash', () => {
    const a = eventKey('acct-a', 'evt-1');
    const b = eventKey('acct-b', 'evt-1');
    expect(hex128(a)).not.toBe(hex128(b));
    // NUL separates the two: "ab" + "c" is not "a" + "bc".
    expect(hex128(eventKey('ab', 'c'))).not.toBe(hex128(eventKey('a', 'bc')));
    expect(hex128(eventKey('acct', 'e'))).toBe(hex128(hashString128('acct\u0000e')));
    const { h } = decoded(
      encodeRawSegment(
        [
          { ...golden, account_id: 'acct-a', event_id: 'evt-1' },
          { ...golden, account_id: 'acct-b', event_id: 'evt-1' },
        ],
        buckets,
      ).hashes,
    );
    expect(h.ids[0]).toBe(h.ids[1]);
    expect(h.ids[0]).toBe(eventHash('evt-1')[0]);
  });

  it('encodes an empty segment, and refuses rows out of key order', () => {
    const empty = encodeRawSegment([], buckets).hashes;
    expect(decodeSegmentHashes(empty).count).toBe(0);
    for (const two of [encodeRawSegment(realisticEvents(2, 9), buckets).hashes, encodeHashesV2(realisticEvents(2, 9))]) {
      const row = two[4] === 3 ? 22 : 28;
      const swapped = two.slice();
      swapped.copyWithin(16, 16 + row, 16 + 2 * row); // row 1 over row 0: unsorted
      swapped.set(two.subarray(16, 16 + row), 16 + row);
      const view = new DataView(swapped.buffer);
      view.setUint32(swapped.length - 4, crc32(swapped, 0, swapped.length - 4), true);
      expect(() => decodeSegmentHashes(swapped)).toThrow(/not sorted/);
    }
  });

  it('refuses a damaged version 3 block (CRC), whichever byte', () => {
    const block = encodeRawSegment(realisticEvents(300, 4), buckets).hashes;
    expect(decodeSegmentHashes(block).count).toBe(300);
    for (const at of [0, 4, 9, 16, 16 + 8, 16 + 22 * 150 + 11, block.length - 5, block.length - 1]) {
      const bad = block.slice();
      bad[at]! ^= 0x10;
      expect(() => decodeSegmentHashes(bad)).toThrow(SegmentCorruptError);
    }
    // A row count that does not match the length is refused even with a valid CRC.
    const short = block.slice(0, block.length - 22);
    new DataView(short.buffer).setUint32(short.length - 4, crc32(short, 0, short.length - 4), true);
    expect(() => decodeSegmentHashes(short)).toThrow(/length/);
  });
});

describe('hashes block version 2 (written by earlier releases; read forever)', () => {
  it('decodes to the same 80-bit keys and 32-bit payloads as version 3 of the same events (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(eventArb, ulidEventArb), { maxLength: 30 }), (events) => {
        const v2 = encodeHashesV2(events);
        expect(v2[4]).toBe(2);
        expect(v2.length).toBe(16 + 28 * events.length + 4);
        const old = decoded(v2);
        expect([...old.rows].sort()).toEqual(expected(events));
        expect([...old.rows].sort()).toEqual([...decoded(encodeSegmentHashes(events)).rows].sort());
      }),
      { numRuns: 100 },
    );
  });

  it('on a realistic batch: the same rows as version 3, in the same order', () => {
    const events = realisticEvents(3000, 8);
    const old = decoded(encodeHashesV2(events));
    const now = decoded(encodeSegmentHashes(events));
    expect(old.rows).toEqual(now.rows);
    expect(old.h.ingestedSec).toEqual(now.h.ingestedSec);
  });
});
