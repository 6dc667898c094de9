/** Small builders for manifest entries used by tests that only need "an item". */
import { closeInputs, type EditOf } from '../../src/manifest/edits.ts';
import { parseMonth } from '../../src/model/periods.ts';
import type { Planner } from '../../src/manifest/manifest-store.ts';
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

let counter = 0;
/** A plain usage event as a client would send it. */
export function usage(i: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    event_id: `evt-${i}`,
    account_id: `acct-${i % 7}`,
    product_id: 'chat',
    meter_id: i % 2 === 0 ? 'tokens.input' : 'tokens.output',
    model_id: 'model-a',
    source: 'api',
    unit: 'tokens',
    timestamp_ms: 1_767_225_600_000 + i * 1000,
    quantity: 100 + i,
    dimensions: { region: 'eu', tier: i % 3 === 0 ? 'pro' : 'free' },
    ...over,
  };
}

export const uniqueRun = () => `r${Date.now().toString(36)}${counter++}`;

/** The ingest edit for fake segments: "add these items" to a manifest, in tests of the commit itself. */
export function addSegments(...ids: string[]): EditOf<'addRawSegments'> {
  return { op: 'addRawSegments', segments: ids.map(fakeSegment), usage_months: [], adjustments: [], at_ms: 1 };
}

/**
 * Plans a close of (account, month) on whatever generation the commit builds on, with zero
 * totals and no frozen object: for tests that need a period listed as closed and nothing more.
 */
export function closedWithoutTotals(accountId: string, month: string): Planner<EditOf<'closePeriod'>> {
  // Any bucket is consistent: the edit checks its inputs with the bucket it carries.
  const m = parseMonth(month);
  return (base) => ({
    op: 'closePeriod',
    account_id: accountId,
    month,
    bucket: 0,
    inputs: closeInputs(base.manifest.segments, accountId, 0, m.from, m.to),
    based_on_generation: base.manifest.generation,
    frozen_key: `test/${accountId}-${month}.json`,
    quantity: '0',
    event_count: 0,
    at_ms: 1,
    reason: 'test',
    actor: 'test',
  });
}
