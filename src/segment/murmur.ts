/**
 * MurmurHash3 x86 128 over the first `len` bytes of a 4-byte-aligned scratch buffer, reading
 * whole little-endian words: the hot-path twin of model/hash.ts murmur3x86_128. It must return
 * exactly what that function returns for the same bytes (a property test pins it); never change one alone.
 */
import { murmur3x86_128 } from '../model/hash.ts';

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A byte buffer with a Uint32 view of the same memory, for `murmurScratch`. */
export class HashScratch {
  bytes: Uint8Array;
  words: Uint32Array;
  constructor(size = 4096) {
    this.bytes = new Uint8Array(size);
    this.words = new Uint32Array(this.bytes.buffer);
  }
  /** Grows (dropping the contents) to hold at least `n` bytes. */
  ensure(n: number): void {
    if (n <= this.bytes.length) return;
    this.bytes = new Uint8Array(Math.max(n, this.bytes.length * 2) + 64);
    this.words = new Uint32Array(this.bytes.buffer, 0, this.bytes.length >>> 2);
  }
}

/** murmur3x86_128(s.bytes.subarray(0, len), 0, out), without the view. */
export function murmurScratch(s: HashScratch, len: number, out: Uint32Array): void {
  if (!LITTLE_ENDIAN) {
    murmur3x86_128(s.bytes.subarray(0, len), 0, out);
    return;
  }
  const bytes = s.bytes;
  const words = s.words;
  let h1 = 0,
    h2 = 0,
    h3 = 0,
    h4 = 0;
  const blocks = len >>> 4;
  for (let b = 0; b < blocks; b++) {
    const w = b << 2;
    let k1 = words[w]! | 0,
      k2 = words[w + 1]! | 0,
      k3 = words[w + 2]! | 0,
      k4 = words[w + 3]! | 0;
    k1 = Math.imul(k1, C1);
    k1 = (k1 << 15) | (k1 >>> 17);
    k1 = Math.imul(k1, C2);
    h1 ^= k1;
    h1 = (h1 << 19) | (h1 >>> 13);
    h1 = (h1 + h2) | 0;
    h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(k2, C2);
    k2 = (k2 << 16) | (k2 >>> 16);
    k2 = Math.imul(k2, C3);
    h2 ^= k2;
    h2 = (h2 << 17) | (h2 >>> 15);
    h2 = (h2 + h3) | 0;
    h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(k3, C3);
    k3 = (k3 << 17) | (k3 >>> 15);
    k3 = Math.imul(k3, C4);
    h3 ^= k3;
    h3 = (h3 << 15) | (h3 >>> 17);
    h3 = (h3 + h4) | 0;
    h3 = (Math.imul(h3, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(k4, C4);
    k4 = (k4 << 18) | (k4 >>> 14);
    k4 = Math.imul(k4, C1);
    h4 ^= k4;
    h4 = (h4 << 13) | (h4 >>> 19);
    h4 = (h4 + h1) | 0;
    h4 = (Math.imul(h4, 5) + 0x32ac3b17) | 0;
  }
  const tail = blocks << 4;
  const rem = len & 15;
  if (rem > 0) {
    let k1 = 0,
      k2 = 0,
      k3 = 0,
      k4 = 0;
    for (let i = rem - 1; i >= 0; i--) {
      const b = bytes[tail + i]! << ((i & 3) * 8);
      if (i < 4) k1 ^= b;
      else if (i < 8) k2 ^= b;
      else if (i < 12) k3 ^= b;
      else k4 ^= b;
    }
    if (rem > 12) {
      k4 = Math.imul(k4, C4);
      k4 = (k4 << 18) | (k4 >>> 14);
      k4 = Math.imul(k4, C1);
      h4 ^= k4;
    }
    if (rem > 8) {
      k3 = Math.imul(k3, C3);
      k3 = (k3 << 17) | (k3 >>> 15);
      k3 = Math.imul(k3, C4);
      h3 ^= k3;
    }
    if (rem > 4) {
      k2 = Math.imul(k2, C2);
      k2 = (k2 << 16) | (k2 >>> 16);
      k2 = Math.imul(k2, C3);
      h2 ^= k2;
    }
    k1 = Math.imul(k1, C1);
    k1 = (k1 << 15) | (k1 >>> 17);
    k1 = Math.imul(k1, C2);
    h1 ^= k1;
  }
  h1 ^= len;
  h2 ^= len;
  h3 ^= len;
  h4 ^= len;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h3 = fmix(h3);
  h4 = fmix(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  out[0] = h1 >>> 0;
  out[1] = h2 >>> 0;
  out[2] = h3 >>> 0;
  out[3] = h4 >>> 0;
}
