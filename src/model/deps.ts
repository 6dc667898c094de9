/**
 * Time and randomness enter the engine only through these parameters, so the simulation can
 * replay any run from a seed. `src/runtime/*` wires the real clock and randomness.
 */
import { ulid } from 'ulidx';

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export interface Deps {
  readonly clock: Clock;
  /** Uniform in [0, 1). */
  readonly random: () => number;
}

/** A ULID from the injected clock and randomness (sortable by time, unique per call). */
export function newId(deps: Deps): string {
  return ulid(deps.clock.now(), deps.random);
}

/** A deterministic PRNG (mulberry32) for tests and the simulation. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
