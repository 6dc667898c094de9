import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { usageEventInput } from '../../src/model/event-schema.ts';
import { validateEvent } from '../../src/model/validate.ts';
import { canonicalPayload } from '../../src/model/event.ts';
import { usage } from '../support/fixtures.ts';

const NOW = Date.UTC(2026, 10, 25);

describe('validateEvent', () => {
  it('canonicalizes: sorted dimensions, null optionals, BigInt quantity, server ingested_at_ms', () => {
    const v = validateEvent(usage(1, { dimensions: { z: '1', a: '2' }, model_id: undefined, quantity: '-42', ingested_at_ms: 7 }), NOW);
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    expect(Object.keys(v.event.dimensions)).toEqual(['a', 'z']);
    expect(v.event.model_id).toBeNull();
    expect(v.event.subscription_id).toBeNull();
    expect(v.event.quantity).toBe(-42n);
    expect(v.event.ingested_at_ms).toBe(NOW);
    expect(v.event.kind).toBe('Usage');
  });

  it('key order of dimensions never changes the canonical payload', () => {
    const a = validateEvent(usage(1, { dimensions: { a: '1', b: '2', c: '3' } }), NOW);
    const b = validateEvent(usage(1, { dimensions: { c: '3', a: '1', b: '2' } }), NOW + 5);
    if (!a.ok || !b.ok) throw new Error('invalid');
    expect(canonicalPayload(a.event)).toBe(canonicalPayload(b.event));
  });

  it('a quantity given as number or as string is the same payload', () => {
    const a = validateEvent(usage(1, { quantity: 12 }), NOW);
    const b = validateEvent(usage(1, { quantity: '12' }), NOW);
    if (!a.ok || !b.ok) throw new Error('invalid');
    expect(canonicalPayload(a.event)).toBe(canonicalPayload(b.event));
  });
});

describe('the zod wire schema and the hand-written validator agree', () => {
  const value = fc.oneof(
    fc.constant(undefined),
    fc.constant(null),
    fc.string({ maxLength: 4 }),
    fc.constantFrom('', 'x'.repeat(257), 'a\u0000b', 'Usage', 'Correction', 'usage', '12', '1.5', '-7', (1n << 127n).toString()),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant([]),
    fc.constant({}),
    fc.constant({ original_event_id: 'o', reason: 'r', note: 'unknown field' }),
    fc.constant({ inner: { region: 'eu' } }),
    fc.constant({ inner: { region: 'eu' }, other: 'x' }),
  );
  const mutation = fc.record({
    field: fc.constantFrom(
      'event_id',
      'account_id',
      'subscription_id',
      'product_id',
      'meter_id',
      'model_id',
      'source',
      'unit',
      'timestamp_ms',
      'quantity',
      'kind',
      'dimensions',
      'correction_ref',
      'quantitiy',
      'constructor',
    ),
    value,
  });

  it('accept and refuse the same events', () => {
    fc.assert(
      fc.property(fc.array(mutation, { maxLength: 3 }), fc.boolean(), (muts, correction) => {
        const e: Record<string, unknown> = usage(1);
        if (correction) Object.assign(e, { kind: 'Correction', correction_ref: { original_event_id: 'o', reason: 'r' } });
        for (const m of muts) e[m.field] = m.value;
        const zodOk = usageEventInput.safeParse(e).success;
        const hand = validateEvent(e, NOW);
        // The future-timestamp bound depends on the server's clock: only the validator has it.
        if (!hand.ok && hand.reason.includes('in the future')) return;
        expect(hand.ok).toBe(zodOk);
      }),
      { numRuns: 2000 },
    );
  });
});
