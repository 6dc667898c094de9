import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketOf } from '../../src/model/bucket.ts';
import { canonicalPayload, type UsageEvent } from '../../src/model/event.ts';
import { eventHash, hashString128, hex128, murmur3x86_128 } from '../../src/model/hash.ts';
import { HashScratch, murmurScratch } from '../../src/segment/murmur.ts';
import { PayloadEncoder } from '../../src/segment/payload.ts';
import {
  decodeRawSegment,
  decodeSegmentHashes,
  encodeRawSegment,
  encodeSegmentHashes,
  payloadHash,
} from '../../src/segment/raw.ts';
import { eventArb, realisticEvents, segmentOrder, ulidEventArb } from './arbitraries.ts';

const buckets = (a: string) => bucketOf(a, 64);
const words = (a: Uint32Array, i: number) => Array.from(a.subarray(i * 4, i * 4 + 4));

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

describe('hashes sidecar', () => {
  const check = (events: readonly UsageEvent[]) => {
    const enc = encodeRawSegment(events, buckets);
    const h = decodeSegmentHashes(enc.hashes);
    const cols = decodeRawSegment(enc.bytes, { columns: ['event_id', 'ingested_at_ms'] });
    const sorted = segmentOrder(events);
    expect(h.count).toBe(events.length);
    for (let i = 0; i < events.length; i++) {
      expect(cols.event_id![i]).toBe(sorted[i]!.event_id);
      expect(words(h.eventHashes, i)).toEqual(Array.from(eventHash(cols.event_id![i]!)));
      expect(words(h.payloadHashes, i)).toEqual(Array.from(payloadHash(sorted[i]!)));
      expect(h.ingestedAt[i]).toBe(cols.ingested_at_ms![i]);
    }
    return enc;
  };

  it('matches hashes computed directly, in decodeRawSegment row order (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(eventArb, ulidEventArb), { maxLength: 30 }), (events) => {
        check(events);
      }),
      { numRuns: 150 },
    );
  });

  it('matches on a realistic batch, and the standalone encoder agrees', () => {
    const events = realisticEvents(2000, 5);
    const enc = check(events);
    const order = segmentOrder(events).map((e) => events.indexOf(e));
    expect(encodeSegmentHashes(events, order)).toEqual(enc.hashes);
  });

  it('encodes an empty segment', () => {
    const h = decodeSegmentHashes(encodeRawSegment([], buckets).hashes);
    expect(h.count).toBe(0);
  });
});
