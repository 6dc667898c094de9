/** Events of the golden v1 segments: bytes written by v1 must decode to these forever. */
import type { UsageEvent } from '../../src/model/event.ts';

const base: UsageEvent = {
  event_id: '01JZ8Q3V6W9X2Y4Z5A7B8C9D0E',
  kind: 'Usage',
  correction_ref: null,
  account_id: 'cus_Alpha',
  subscription_id: 'sub_1',
  product_id: 'llm',
  meter_id: 'input_tokens',
  model_id: 'claude-sonnet',
  source: 'api',
  unit: 'token',
  timestamp_ms: 1_760_000_000_000,
  quantity: 1200n,
  dimensions: { region: 'eu-west-1', tier: 'pro' },
  ingested_at_ms: 1_760_000_000_500,
};

/** Mostly ULIDs: exercises the packed event_id encoding. */
export const GOLDEN_ULID_EVENTS: UsageEvent[] = [
  base,
  { ...base, event_id: '01JZ8Q3V6X0000000000000000', timestamp_ms: 1_760_000_000_001, quantity: -(2n ** 127n), model_id: null },
  { ...base, event_id: '01JZ8Q3V6Y7ZZZZZZZZZZZZZZZ', kind: 'Correction', correction_ref: { original_event_id: '01JZ8Q3V6W9X2Y4Z5A7B8C9D0E', reason: 'double "count"' }, quantity: 2n ** 127n - 1n },
  { ...base, event_id: 'custom-id-ü', account_id: 'cus_Beta', subscription_id: null, kind: 'Retraction', quantity: 0n, dimensions: {} },
  { ...base, event_id: '01JZ8Q3V6Z1111111111111111', account_id: 'cus_Beta', meter_id: 'requests', unit: 'request', quantity: 2n ** 53n, timestamp_ms: 1_760_000_003_000 },
];

/** Arbitrary strings: exercises the string-block event_id encoding and unicode everywhere. */
export const GOLDEN_STRING_EVENTS: UsageEvent[] = [
  { ...base, event_id: 'e-1', account_id: '😀 acct', dimensions: { '\uFEFF': '𝄞', a: '"\\' } },
  { ...base, event_id: 'e-2', account_id: '😀 acct', timestamp_ms: 1, ingested_at_ms: 2 ** 47, quantity: -5n },
  { ...base, event_id: 'e-3', account_id: 'a', product_id: 'é', source: '', quantity: -(2n ** 53n) - 1n },
];
