/** The real clock and randomness, wired only by runtime entry points. */
import type { Deps } from '../model/deps.ts';

export function systemDeps(): Deps {
  const pool = new Uint32Array(256);
  let next = pool.length;
  return {
    clock: { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) },
    random: () => {
      if (next === pool.length) {
        crypto.getRandomValues(pool);
        next = 0;
      }
      return pool[next++]! / 4294967296;
    },
  };
}
