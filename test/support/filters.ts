/** Key filter stand-ins for tests and the simulation. */
import type { FilterLoader } from '../../src/ingest/cold-filters.ts';
import { readKeyFilter } from '../../src/objects/segment-objects.ts';
import { KeyFilter } from '../../src/segment/key-filter.ts';

/** Loads the real filter block but answers "maybe" for every key: each probe is a false positive to confirm away. */
export const alwaysMaybe: FilterLoader = async (store, seg) => {
  const real = await readKeyFilter(store, seg);
  const maybe = new (class extends KeyFilter {
    override mayContain(): boolean {
      return true;
    }
  })(real.filter.seed, real.filter.blockLength, real.filter.fingerprints, real.filter.key2Mask);
  return { ...real, filter: maybe };
};
