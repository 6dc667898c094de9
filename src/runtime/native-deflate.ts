/**
 * Installs node:zlib as the segment DEFLATE implementation. Node, Lambda and Workers (with
 * `nodejs_compat`, which wrangler.toml sets for the AWS SDK anyway) all provide it; importing
 * this module is enough. Same bytes on disk as far as readers care: raw DEFLATE either way.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { setDeflate, type DeflateImpl } from '../segment/deflate.ts';

const view = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

export const nativeDeflate: DeflateImpl = {
  name: 'node:zlib',
  deflateRaw: (data, level) => view(deflateRawSync(data, { level })),
  inflateRaw: (data, rawLength) => view(inflateRawSync(data, { maxOutputLength: Math.max(1, rawLength) })),
};

setDeflate(nativeDeflate);
