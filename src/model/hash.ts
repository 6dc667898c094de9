/**
 * MurmurHash3 x86 128-bit: fast in plain JS (32-bit multiplies only), identical in Node and
 * workerd. Buckets and dedupe hashes are persisted, so this function must never change: a
 * golden test pins its output. Not a cryptographic hash.
 */

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;

const rotl = (x: number, r: number) => (x << r) | (x >>> (32 - r));
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The 128-bit hash as four unsigned 32-bit words, written into `out` (default: a new array). */
export function murmur3x86_128(bytes: Uint8Array, seed = 0, out: Uint32Array = new Uint32Array(4)): Uint32Array {
  let h1 = seed >>> 0,
    h2 = h1,
    h3 = h1,
    h4 = h1;
  const len = bytes.byteLength;
  const blocks = len - (len & 15);
  const word = (i: number) => bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
  for (let i = 0; i < blocks; i += 16) {
    let k1 = word(i),
      k2 = word(i + 4),
      k3 = word(i + 8),
      k4 = word(i + 12);
    k1 = Math.imul(rotl(Math.imul(k1, C1), 15), C2);
    h1 ^= k1;
    h1 = rotl(h1, 19);
    h1 = (h1 + h2) | 0;
    h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(rotl(Math.imul(k2, C2), 16), C3);
    h2 ^= k2;
    h2 = rotl(h2, 17);
    h2 = (h2 + h3) | 0;
    h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(rotl(Math.imul(k3, C3), 17), C4);
    h3 ^= k3;
    h3 = rotl(h3, 15);
    h3 = (h3 + h4) | 0;
    h3 = (Math.imul(h3, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(rotl(Math.imul(k4, C4), 18), C1);
    h4 ^= k4;
    h4 = rotl(h4, 13);
    h4 = (h4 + h1) | 0;
    h4 = (Math.imul(h4, 5) + 0x32ac3b17) | 0;
  }
  const rem = len & 15;
  if (rem > 0) {
    let k1 = 0,
      k2 = 0,
      k3 = 0,
      k4 = 0;
    for (let i = 0; i < rem; i++) {
      const b = bytes[blocks + i]! << ((i & 3) * 8);
      if (i < 4) k1 ^= b;
      else if (i < 8) k2 ^= b;
      else if (i < 12) k3 ^= b;
      else k4 ^= b;
    }
    if (rem > 12) {
      k4 = Math.imul(rotl(Math.imul(k4, C4), 18), C1);
      h4 ^= k4;
    }
    if (rem > 8) {
      k3 = Math.imul(rotl(Math.imul(k3, C3), 17), C4);
      h3 ^= k3;
    }
    if (rem > 4) {
      k2 = Math.imul(rotl(Math.imul(k2, C2), 16), C3);
      h2 ^= k2;
    }
    k1 = Math.imul(rotl(Math.imul(k1, C1), 15), C2);
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
  return out;
}

const utf8 = new TextEncoder();

export function hashString128(s: string, seed = 0): Uint32Array {
  return murmur3x86_128(utf8.encode(s), seed);
}

export function hex128(h: Uint32Array): string {
  let s = '';
  for (let i = 0; i < 4; i++) s += h[i]!.toString(16).padStart(8, '0');
  return s;
}

/** `event_hash`: 128 bits of the event id (the dedupe key). */
export function eventHash(eventId: string, out?: Uint32Array): Uint32Array {
  return murmur3x86_128(utf8.encode(eventId), 0, out);
}
