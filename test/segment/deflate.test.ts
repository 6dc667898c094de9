import { afterEach, describe, expect, it } from 'vitest';
import { nativeDeflate } from '../../src/runtime/native-deflate.ts';
import { bucketOf } from '../../src/model/bucket.ts';
import { deflateImpl, fflateDeflate, setDeflate, type DeflateImpl } from '../../src/segment/deflate.ts';
import { decodeRawSegment, encodeRawSegment, rawColumnsToEvents } from '../../src/segment/raw.ts';
import { realisticEvents } from './arbitraries.ts';
import { expectCorrupt, restamp } from './corruption-helpers.ts';

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

    it(`${impl.name}: a garbled column stream is a typed corruption error (checksum re-stamped)`, () => {
      setDeflate(impl);
      const enc = encodeRawSegment(events, buckets, { level: 6 });
      expectCorrupt(() => decodeRawSegment(garbleFirstColumn(enc.bytes)));
    });
  }
});

/**
 * Overwrites 24 bytes of the first column's stored (deflated) body with 0xff and re-stamps the
 * CRC: layout and checksum stay valid, only the inflater can tell.
 */
function garbleFirstColumn(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  const headerLen = view.getUint32(5, true);
  const mid = headerLen + 8;
  out.fill(0xff, mid, mid + 24);
  return restamp(out);
}
