/** Test wiring for the injected clock and randomness. */
import { seededRandom, type Deps } from '../../src/model/deps.ts';

export function realTimeDeps(seed = 1): Deps {
  return {
    clock: { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) },
    random: seededRandom(seed),
  };
}
