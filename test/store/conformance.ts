/**
 * The store conformance suite under vitest: every case of conformance-cases.ts as one `it`, on a
 * fresh `StoreUnderTest` from `make`. memory, fs and S3 (MinIO) run it here; the R2 binding runs
 * the same cases inside workerd (r2-binding.test.ts).
 */
import { describe, it } from 'vitest';
import { STORE_CASES, type StoreUnderTest } from './conformance-cases.ts';

export type { StoreUnderTest } from './conformance-cases.ts';

export function describeObjectStore(name: string, make: () => Promise<StoreUnderTest>): void {
  describe(`ObjectStore conformance: ${name}`, () => {
    for (const c of STORE_CASES) it(c.name, async () => c.run(await make()));
  });
}
