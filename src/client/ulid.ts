/**
 * ULIDs for event ids, minted with crypto.getRandomValues only (no dependency): 26 Crockford
 * base32 characters, 48-bit millisecond time + 80 random bits. Monotonic per generator: within
 * one millisecond (or if the clock steps back) the random part is incremented, so ids sort.
 */

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;
const MAX_TIME = 2 ** 48 - 1;
const ULID_RE = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

export interface UlidOptions {
  /** Milliseconds since the epoch (default Date.now). */
  readonly now?: () => number;
  /** Fills the array with random bytes (default crypto.getRandomValues). */
  readonly randomBytes?: (bytes: Uint8Array) => void;
}

/** A ULID generator with its own monotonic state. */
export function ulidFactory(opts: UlidOptions = {}): (now?: number) => string {
  const clock = opts.now ?? Date.now;
  const fill = opts.randomBytes ?? ((b: Uint8Array) => void crypto.getRandomValues(b));
  const digits = new Uint8Array(RANDOM_CHARS);
  let lastTime = -1;

  const freshRandom = (): void => {
    fill(digits);
    // 256 is a multiple of 32: masking keeps every base32 digit uniform.
    for (let i = 0; i < RANDOM_CHARS; i++) digits[i] = digits[i]! & 31;
  };

  /** Adds one to the 80-bit random part; false when it wrapped around. */
  const increment = (): boolean => {
    for (let i = RANDOM_CHARS - 1; i >= 0; i--) {
      if (digits[i]! < 31) {
        digits[i] = digits[i]! + 1;
        return true;
      }
      digits[i] = 0;
    }
    return false;
  };

  return (now?: number): string => {
    let time = Math.floor(now ?? clock());
    if (!Number.isInteger(time) || time < 0 || time > MAX_TIME) throw new RangeError(`ulid: time ${time} is outside 0..2^48-1`);
    if (time <= lastTime) {
      time = lastTime;
      // 2^80 ids in one millisecond cannot happen in practice; if it did, borrow the next millisecond.
      if (!increment()) {
        time = lastTime + 1;
        freshRandom();
      }
    } else freshRandom();
    lastTime = time;
    let out = '';
    for (let i = TIME_CHARS - 1, t = time; i >= 0; i--, t = Math.floor(t / 32)) out = ALPHABET[t % 32]! + out;
    for (let i = 0; i < RANDOM_CHARS; i++) out += ALPHABET[digits[i]!]!;
    return out;
  };
}

const shared = ulidFactory();

/** A new ULID, monotonic within this module instance (ids minted in one millisecond sort in mint order). */
export function ulid(now?: number): string {
  return shared(now);
}

/** Whether `s` is a canonical (upper-case) ULID. */
export function isUlid(s: string): boolean {
  return ULID_RE.test(s);
}

/** The millisecond timestamp a ULID encodes. */
export function ulidTime(id: string): number {
  if (!isUlid(id)) throw new TypeError(`not a ULID: ${id.slice(0, 40)}`);
  let t = 0;
  for (let i = 0; i < TIME_CHARS; i++) t = t * 32 + ALPHABET.indexOf(id[i]!);
  return t;
}
