import { afterEach, describe, expect, it } from 'vitest';
import { nativeDeflate } from '../../src/runtime/native-deflate.ts';
import { bucketOf } from '../../src/model/bucket.ts';
import { deflateImpl, fflateDeflate, setDeflate, type DeflateImpl } from '../../src/segment/deflate.ts';
import { SegmentCorruptError } from '../../src/segment/errors.ts';
import { decodeRawSegment, encodeRawSegment, rawColumnsToEvents } from '../../src/segment/raw.ts';
import { realisticEvents } from './arbitraries.ts';

const impls: readonly DeflateImpl[] = [fflateDeflate, nativeDeflate];
const installed = deflateImpl();
afterEach(() => setDeflate(installed));

describe('segment DEFLATE implementations', () => {
  const events = realisticEvents(3_000, 11);
  const buckets = (a: string) => bucketOf(a, 64);

  for (const writer of impls) {
    for (const reader of impls) {
      it(`a segment written with ${writer.name} reads back identically with ${reader.name}`, () => {
        setDeflate(writer);
        const enc = encodeRawSegment(events, buckets, { level: 1 });
        setDeflate(reader);
        expect(rawColumnsToEvents(decodeRawSegment(enc.bytes))).toEqual(
          rawColumnsToEvents(decodeRawSegment(encodeRawSegment(events, buckets, { level: 0 }).bytes)),
        );
      });
    }
  }

  for (const impl of impls) {
    it(`${impl.name}: a stream that inflates to more than the directory says is refused`, () => {
      const raw = new TextEncoder().encode('usage '.repeat(200));
      const z = impl.deflateRaw(raw, 6);
      expect(() => impl.inflateRaw(z, raw.length - 1)).toThrow();
      expect(impl.inflateRaw(z, raw.length)).toEqual(raw);
    });

    it(`${impl.name}: a truncated column stream is a typed corruption error (checksum patched)`, () => {
      setDeflate(impl);
      // Re-deflating a column with a cut stream but a valid CRC only reaches the inflater.
      const enc = encodeRawSegment(events, buckets, { level: 6 });
      expect(() => decodeRawSegment(truncateFirstDeflatedColumn(enc.bytes))).toThrow(SegmentCorruptError);
    });
  }
});

/** Cuts the first deflated column's stream short, keeping layout and CRC consistent. */
function truncateFirstDeflatedColumn(bytes: Uint8Array): Uint8Array {
  // Corrupting the stream bytes themselves (zeroing its second half) and fixing the CRC.
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  const headerLen = view.getUint32(5, true);
  const mid = headerLen + 8;
  out.fill(0xff, mid, mid + 24);
  return fixCrc(out);
}

function fixCrc(out: Uint8Array): Uint8Array {
  const at = out.length - 8;
  let c = ~0;
  for (let i = 0; i < at; i++) {
    c ^= out[i]!;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  new DataView(out.buffer).setUint32(at, ~c >>> 0, true);
  return out;
}
