/**
 * The wire shape of an incoming usage event as a zod schema: the documentation and OpenAPI
 * source. The ingest hot path uses the equivalent hand-written `validateEvent`; a test keeps
 * both accepting and refusing the same inputs. Strict like the validator: an unknown field
 * (in the event or its correction_ref) rejects the event.
 */
import { z } from 'zod';
import { DEFAULT_EVENT_LIMITS as L } from './validate.ts';

const wellFormed = (s: string) => s.isWellFormed();
const id = z
  .string()
  .min(1)
  .max(L.maxIdLength)
  .regex(/^[^\u0000-\u001f\u007f]*$/, 'no control characters')
  .refine(wellFormed, 'well-formed Unicode');
const dimensionMap = z.record(
  z
    .string()
    .min(1)
    .max(L.maxDimensionKeyLength)
    .regex(/^[^\u0000-\u001f\u007f]*$/)
    .refine(wellFormed)
    .refine((k) => k !== '__proto__', 'reserved'),
  z
    .string()
    .max(L.maxDimensionValueLength)
    .regex(/^[^\u0000]*$/)
    .refine(wellFormed),
);

export const usageEventInput = z
  .strictObject({
    event_id: id.describe('Idempotency key: same id + same payload = duplicate; different payload = conflict.'),
    kind: z.enum(['Usage', 'Correction', 'Retraction']).nullish().describe('Defaults to Usage.'),
    correction_ref: z
      .strictObject({
        original_event_id: id,
        reason: z
          .string()
          .max(L.maxReasonLength)
          .regex(/^[^\u0000]*$/)
          .nullish(),
      })
      .nullish()
      .describe('Required for Correction and Retraction; not allowed on Usage.'),
    account_id: id,
    subscription_id: id.nullish(),
    product_id: id,
    meter_id: id,
    model_id: id.nullish(),
    source: id,
    unit: id,
    timestamp_ms: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).describe('When the usage happened; at most 24 h ahead of the server.'),
    quantity: z
      .union([z.number().int().min(-Number.MAX_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER), z.string().regex(/^[+-]?[0-9]{1,40}$/)])
      .describe('Signed 128-bit integer: a JSON integer within ±2^53-1 or a decimal string.'),
    dimensions: z
      .union([dimensionMap.refine((m) => Object.keys(m).length <= L.maxDimensions, `at most ${L.maxDimensions} keys`), z.strictObject({ inner: dimensionMap })])
      .nullish(),
    ingested_at_ms: z.number().optional().describe('Ignored: the server stamps it.'),
  })
  .superRefine((e, ctx) => {
    const usage = e.kind == null || e.kind === 'Usage';
    if (usage && e.correction_ref != null) ctx.addIssue({ code: 'custom', path: ['correction_ref'], message: 'only on Correction/Retraction' });
    if (!usage && e.correction_ref == null) ctx.addIssue({ code: 'custom', path: ['correction_ref'], message: 'required' });
    if (typeof e.quantity === 'string' && /^[+-]?[0-9]{1,40}$/.test(e.quantity)) {
      const q = BigInt(e.quantity);
      if (q < -(1n << 127n) || q > (1n << 127n) - 1n) ctx.addIssue({ code: 'custom', path: ['quantity'], message: 'outside i128' });
    }
  });

export const usageBatchInput = z.object({ events: z.array(z.unknown()).describe('Usage events (see UsageEvent); invalid ones are rejected one by one.') });
