/**
 * String blocks: many strings stored as their UTF-16 lengths (varints) then one UTF-8 run, so a
 * decoder does one TextDecoder call per block and slices. Never accepts a string that UTF-8
 * cannot carry exactly (lone surrogates): encoding one would silently change it.
 */
import { SegmentCorruptError } from './errors.ts';
import { utf8Dec, type ByteReader, type ByteWriter } from './varint.ts';

const utf8Enc = new TextEncoder();

/** True when `s` has no lone surrogate (so UTF-8 round-trips it exactly). */
export function isWellFormed(s: string): boolean {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if ((c & 0xf800) !== 0xd800) continue;
    if (c >= 0xdc00 || i + 1 >= n) return false;
    const d = s.charCodeAt(i + 1);
    if ((d & 0xfc00) !== 0xdc00) return false;
    i++;
  }
  return true;
}

export function assertWellFormed(s: string, what: string): void {
  if (!isWellFormed(s)) throw new TypeError(`${what} contains a lone surrogate and cannot be stored as UTF-8`);
}

/**
 * Writes `strings` as a block: each UTF-16 length (varint), the UTF-8 byte length (varint), the
 * UTF-8 bytes. The count is the caller's to store. Strings must be well-formed.
 */
export function writeStringBlock(w: ByteWriter, strings: readonly string[]): void {
  let total = 0;
  for (const s of strings) {
    w.varUint(s.length);
    total += s.length;
  }
  const joined = strings.join('');
  if (joined.length !== total) throw new Error('string block length mismatch');
  const max = total * 3;
  w.ensure(max + 16);
  // Encode after a maximal length prefix, then move the bytes if the real prefix is shorter.
  const pre = 9;
  const written = utf8Enc.encodeInto(joined, w.buf.subarray(w.pos + pre)).written;
  const at = w.pos;
  w.varUint(written);
  w.buf.copyWithin(w.pos, at + pre, at + pre + written);
  w.pos += written;
}

/** Reads a block of `count` strings written by writeStringBlock. */
export function readStringBlock(r: ByteReader, count: number): string[] {
  if (count > r.remaining()) throw new SegmentCorruptError('string block count exceeds its bytes');
  const lengths = new Uint32Array(count);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const n = r.varUint();
    lengths[i] = n;
    total += n;
  }
  const bytes = r.bytes(r.varUint());
  let joined: string;
  try {
    joined = utf8Dec.decode(bytes);
  } catch (cause) {
    throw new SegmentCorruptError('string block is not valid UTF-8', { cause });
  }
  if (joined.length !== total) throw new SegmentCorruptError('string block lengths do not match its bytes');
  const out = new Array<string>(count);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const n = lengths[i]!;
    out[i] = joined.slice(at, at + n);
    at += n;
  }
  return out;
}
