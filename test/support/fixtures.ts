/** Small builders for manifest entries used by tests that only need "an item". */
import type { RawSegmentEntry } from '../../src/manifest/schema.ts';

export function fakeSegment(id: string): RawSegmentEntry {
  return {
    id,
    key: `segments/raw/${id}.useg`,
    hashes_key: `segments/raw/${id}.hashes`,
    rows: 1,
    bytes: 10,
    min_ts: 1,
    max_ts: 1,
    min_ingested: 1,
    max_ingested: 1,
    buckets: [0],
    min_account: 'a',
    max_account: 'a',
    products: ['p'],
    meters: ['m'],
    models: [],
    quantity_sum: '1',
    checksum: '0',
    created_at_ms: 1,
  };
}
