import { describe, expect, it } from 'vitest';
import { eventHash } from '../../src/model/hash.ts';
import { crc32, crc32Hex } from '../../src/segment/crc32.ts';
import { decodeRawSegment, decodeSegmentHashes, isVersion1, payloadHash, rawColumnsToEvents } from '../../src/segment/raw.ts';
import { segmentOrder } from './arbitraries.ts';
import { GOLDEN_STRING_EVENTS, GOLDEN_ULID_EVENTS, STRING_HASHES, STRING_SEGMENT, ULID_HASHES, ULID_SEGMENT } from './golden-events.ts';

const bytes = (hex: string) => Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));

describe('golden v1 segments', () => {
  const cases = [
    { name: 'packed ULID ids', segment: ULID_SEGMENT, hashes: ULID_HASHES, events: GOLDEN_ULID_EVENTS },
    { name: 'string ids', segment: STRING_SEGMENT, hashes: STRING_HASHES, events: GOLDEN_STRING_EVENTS },
  ];
  for (const c of cases) {
    it(`decodes the ${c.name} segment and its hashes`, () => {
      const seg = bytes(c.segment);
      const want = segmentOrder(c.events);
      expect(rawColumnsToEvents(decodeRawSegment(seg))).toEqual(want);
      const h = decodeSegmentHashes(bytes(c.hashes));
      if (!isVersion1(h)) throw new Error('a version 1 block decoded as version 2');
      expect(h.count).toBe(want.length);
      want.forEach((e, i) => {
        expect(Array.from(h.eventHashes.subarray(i * 4, i * 4 + 4))).toEqual(Array.from(eventHash(e.event_id)));
        expect(Array.from(h.payloadHashes.subarray(i * 4, i * 4 + 4))).toEqual(Array.from(payloadHash(e)));
        expect(h.ingestedAt[i]).toBe(e.ingested_at_ms);
      });
      const view = new DataView(seg.buffer);
      expect(crc32Hex(view.getUint32(seg.length - 8, true))).toBe(crc32Hex(crc32(seg, 0, seg.length - 8)));
    });
  }
});
