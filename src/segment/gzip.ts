/**
 * gzip members (RFC 1952) around the same raw DEFLATE the segment columns use, for JSON objects
 * stored compressed (manifest history): `gunzip` or `zcat` reads them. Only what `gzip` writes
 * here is read back: one member, no optional header fields (FLG = 0), so the header is always
 * the same 10 bytes. The trailer's CRC-32 and length are checked.
 */
import { crc32 } from './crc32.ts';
import { deflateImpl } from './deflate.ts';

const HEADER = Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff); // magic, CM=deflate, FLG=0, MTIME=0, XFL=0, OS=unknown
const TRAILER = 8;
/** Larger inflated sizes are refused before inflating (history objects are a few hundred KB). */
const MAX_INFLATED = 256 * 1024 * 1024;

/** Whether `bytes` start like a gzip member (JSON never starts with 0x1f). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** One gzip member of `data` at DEFLATE `level` (1..9). */
export function gzip(data: Uint8Array, level = 6): Uint8Array {
  const body = deflateImpl().deflateRaw(data, level);
  const out = new Uint8Array(HEADER.length + body.length + TRAILER);
  out.set(HEADER, 0);
  out.set(body, HEADER.length);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(out.length - 8, crc32(data), true);
  view.setUint32(out.length - 4, data.length >>> 0, true);
  return out;
}

/** The data of a member `gzip` wrote; a RangeError naming what is wrong for anything else. */
export function gunzip(bytes: Uint8Array): Uint8Array {
  if (bytes.length < HEADER.length + TRAILER) throw new RangeError('gzip: shorter than a header and a trailer');
  for (let i = 0; i < 4; i++) if (bytes[i] !== HEADER[i]) throw new RangeError('gzip: not a deflate member without optional fields');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = view.getUint32(bytes.length - 4, true);
  if (size > MAX_INFLATED) throw new RangeError(`gzip: declares ${size} bytes, more than ${MAX_INFLATED}`);
  const data = deflateImpl().inflateRaw(bytes.subarray(HEADER.length, bytes.length - TRAILER), size);
  if (data.length !== size) throw new RangeError(`gzip: inflates to ${data.length} bytes, the trailer says ${size}`);
  if (crc32(data) !== view.getUint32(bytes.length - 8, true)) throw new RangeError('gzip: CRC-32 mismatch');
  return data;
}
