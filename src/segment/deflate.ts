/**
 * The raw-DEFLATE implementation segment columns are stored with. The format is plain DEFLATE
 * (RFC 1951), so any implementation reads what any other wrote; only speed differs. The default
 * is fflate (pure JS, runs anywhere). Runtimes with a native zlib install it with `setDeflate`
 * (src/runtime/native-deflate.ts): about 10x faster here, and without fflate's ~200 KB of fresh
 * tables per call, which dominated encoding small ingest segments.
 */
import { deflateSync, inflateSync } from 'fflate';

export interface DeflateImpl {
  readonly name: string;
  /** Raw DEFLATE of `data` at `level` (1..9). */
  deflateRaw(data: Uint8Array, level: number): Uint8Array;
  /**
   * Inflates `data`, which must produce exactly `rawLength` bytes; throws on an invalid stream
   * or one that inflates to more than `rawLength` (the caller checks for fewer).
   */
  inflateRaw(data: Uint8Array, rawLength: number): Uint8Array;
}

type Level = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

export const fflateDeflate: DeflateImpl = {
  name: 'fflate',
  deflateRaw: (data, level) => deflateSync(data, { level: level as Level }),
  inflateRaw: (data, rawLength) => {
    // One spare byte: fflate stops silently at the end of a given buffer, so a stream longer than
    // declared would otherwise come back cut to exactly the expected length.
    const got = inflateSync(data, { out: new Uint8Array(rawLength + 1) });
    if (got.length > rawLength) throw new RangeError(`inflates past its declared ${rawLength} bytes`);
    return got;
  },
};

let current: DeflateImpl = fflateDeflate;

export function setDeflate(impl: DeflateImpl): void {
  current = impl;
}

export function deflateImpl(): DeflateImpl {
  return current;
}
