import fc from 'fast-check';
import { it } from 'vitest';
import { bucketOf } from '../../src/model/bucket.ts';
import { crc32 } from '../../src/segment/crc32.ts';
import { decodeRawSegment, encodeRawSegment, rawColumnsToEvents } from '../../src/segment/raw.ts';
import { realisticEvents } from '../../test/segment/arbitraries.ts';
it('count', () => {
  const s = encodeRawSegment(realisticEvents(300, 3), (a) => bucketOf(a, 64));
  const res = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const b = s.bytes.slice(); const at = Math.floor(Math.random() * (b.length - 8)); b[at]! ^= 1 + Math.floor(Math.random() * 255);
    new DataView(b.buffer).setUint32(b.length - 8, crc32(b, 0, b.length - 8), true);
    let k = 'ok';
    try { rawColumnsToEvents(decodeRawSegment(b)); } catch (e) { k = (e as Error).constructor.name + ': ' + (e as Error).message.replace(/[0-9]+/g, 'N').slice(0, 60); }
    res.set(k, (res.get(k) ?? 0) + 1);
  }
  console.log([...res].sort((a, b) => b[1] - a[1]));
});
