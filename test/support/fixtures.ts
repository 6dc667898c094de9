/** Small builders for manifest entries used by tests that only need "an item". */
import { closeInputs, type EditOf } from '../../src/manifest/edits.ts';
import { parseMonth } from '../../src/model/periods.ts';
import type { Planner } from '../../src/manifest/manifest-store.ts';
import type { RawSegmentEntry, RollupSegmentEntry } from '../../src/manifest/schema.ts';

/** A rollup entry of one row for manifest-level tests (no object behind it). */
export function fakeRollup(id: string, inputs: string[] = [], hour = 0): RollupSegmentEntry {
  return {
    id,
    key: `r/${id}.rseg`,
    inputs,
    rows: 1,
    bytes: 1,
    min_hour_ms: hour,
    max_hour_ms: hour,
    buckets: [0],
    min_account: 'a',
    max_account: 'a',
    quantity_sum: '1',
    event_count: 1,
    checksum: '0',
    created_at_ms: 1,
  };
}

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

/**
 * A realistic raw segment entry for benchmarks of manifest size and commit cost: number `i`,
 * data from `ts` for an hour, ingested at `ts`; `legacySidecar` names a hashes sidecar object.
 */
export function benchSegment(i: number, ts: number, legacySidecar = false): RawSegmentEntry {
  const id = `01JBENCH${String(i).padStart(18, '0')}`;
  return {
    id,
    key: `usagedb/shards/00/segments/raw/${id}.useg`,
    ...(legacySidecar ? { hashes_key: `usagedb/shards/00/segments/raw/${id}.hashes` } : {}),
    rows: 1000 + (i % 97),
    bytes: 48_000 + i,
    min_ts: ts,
    max_ts: ts + 3_600_000,
    min_ingested: ts,
    max_ingested: ts + 500,
    buckets: [i % 4, (i + 1) % 4],
    min_account: `acct_${String(i % 1000).padStart(5, '0')}`,
    max_account: `acct_${String((i % 1000) + 50).padStart(5, '0')}`,
    products: ['chat', 'embeddings'],
    meters: ['tokens.input', 'tokens.output', 'requests'],
    models: ['gpt-x', 'claude-y', 'llama-z'],
    quantity_sum: String(123_456_789 + i),
    checksum: (i * 2654435761).toString(16).padStart(8, '0'),
    created_at_ms: ts,
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
