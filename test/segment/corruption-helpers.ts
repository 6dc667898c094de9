/** What the raw and rollup corruption tests (and the DEFLATE test) share. */
import { expect } from 'vitest';
import { crc32 } from '../../src/segment/crc32.ts';
import { SegmentCorruptError } from '../../src/segment/errors.ts';

/** `f` throws a typed segment corruption error (code `segment_corrupt`), nothing else. */
export function expectCorrupt(f: () => unknown): void {
  let thrown: unknown;
  try {
    f();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(SegmentCorruptError);
  expect((thrown as SegmentCorruptError).code).toBe('segment_corrupt');
}

/** Lengths to truncate to: the edges of every fixed field plus a spread through the body. */
export function cutPoints(len: number): number[] {
  const pts = new Set([0, 1, 3, 4, 5, 8, 9, 10, 12, 16, 24, 32, len >> 1, len - 1, len - 3, len - 4, len - 5, len - 8, len - 9]);
  for (let i = 1; i < 40; i++) pts.add(Math.floor((len * i) / 40));
  return [...pts].filter((n) => n >= 0 && n < len);
}

/**
 * Re-stamps the CRC-32 that sits `trailer` bytes before the end (8 for segments: CRC + end
 * magic; 4 for hashes blocks), so only the structural checks stand between us and bad data.
 */
export function restamp(b: Uint8Array, trailer = 8): Uint8Array {
  new DataView(b.buffer, b.byteOffset, b.length).setUint32(b.length - trailer, crc32(b, 0, b.length - trailer), true);
  return b;
}
