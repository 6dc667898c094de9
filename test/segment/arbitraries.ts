/** fast-check arbitraries and a realistic workload generator for the segment codec tests. */
import fc from 'fast-check';
import { ulid } from 'ulidx';
import { EVENT_KINDS, I128_MAX, I128_MIN, type UsageEvent } from '../../src/model/event.ts';
import { seededRandom } from '../../src/model/deps.ts';

const TWO_53 = 1n << 53n;

/** Short strings: a few shared values (so dictionaries repeat), ASCII, or any code point (astral too). */
export const idString = fc.oneof(
  fc.constantFrom('acct_1', 'acct_2', 'a', 'é', '😀x', '\uFEFFbom', '', '"q"', 'back\\slash', 'nl\n\u0000\u001f', '\u2028\u2029', '__proto__', '10'),
  fc.string({ unit: 'binary-ascii', maxLength: 10 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
);
const nonEmptyId = idString.filter((s) => s.length > 0);

export const quantityArb = fc.oneof(
  fc.constantFrom(
    I128_MIN,
    I128_MAX,
    0n,
    1n,
    -1n,
    63n,
    -64n,
    64n,
    -65n,
    TWO_53,
    -TWO_53,
    TWO_53 - 1n,
    -(TWO_53 - 1n),
    TWO_53 + 1n,
    -TWO_53 - 1n,
    1n << 52n,
    -(1n << 52n),
    (1n << 52n) + 1n,
    -(1n << 52n) - 1n,
    1n << 31n,
    -(1n << 31n) - 1n,
    I128_MIN + 1n,
    I128_MAX - 1n,
    1n << 64n,
    -(1n << 64n),
  ),
  fc.bigInt({ min: I128_MIN, max: I128_MAX }),
  fc.bigInt({ min: -1_000_000n, max: 1_000_000n }),
);

export const timestampArb = fc.oneof(fc.bigInt({ min: 1n, max: 1n << 47n }).map(Number), fc.constantFrom(1, 2 ** 47, 1_700_000_000_000, 1_700_000_000_001));

const dimsArb = fc
  .uniqueArray(fc.tuple(idString, idString), { selector: (t) => t[0], maxLength: 16 })
  .map((entries) => Object.fromEntries(entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))));

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Canonical ULIDs (upper-case Crockford base32, first character 0-7). */
export const ulidArb = fc
  .tuple(fc.integer({ min: 0, max: 7 }), fc.array(fc.integer({ min: 0, max: 31 }), { minLength: 25, maxLength: 25 }))
  .map(([a, rest]) => CROCKFORD[a]! + rest.map((i) => CROCKFORD[i]!).join(''));

/** Almost-ULIDs a packer must keep verbatim. */
export const nearUlidArb = ulidArb.chain((u) =>
  fc.constantFrom(u.toLowerCase(), '8' + u.slice(1), u.slice(1), u + '0', u.slice(0, 5) + 'U' + u.slice(6), u.slice(0, 3) + 'é' + u.slice(4)),
);

export const eventIdArb = fc.oneof(nonEmptyId, fc.constantFrom('dup-1', 'dup-2'));
/** Mostly ULIDs (so the packed event_id encoding is used), with exceptions mixed in. */
export const ulidEventIdArb = fc.oneof({ weight: 6, arbitrary: ulidArb }, { weight: 1, arbitrary: nearUlidArb }, { weight: 1, arbitrary: nonEmptyId });

export const eventArb: fc.Arbitrary<UsageEvent> = fc.record({
  event_id: eventIdArb,
  kind: fc.constantFrom(...EVENT_KINDS),
  correction_ref: fc.option(fc.record({ original_event_id: nonEmptyId, reason: idString }), { nil: null }),
  account_id: nonEmptyId,
  subscription_id: fc.option(nonEmptyId, { nil: null }),
  product_id: nonEmptyId,
  meter_id: nonEmptyId,
  model_id: fc.option(nonEmptyId, { nil: null }),
  source: nonEmptyId,
  unit: nonEmptyId,
  timestamp_ms: timestampArb,
  quantity: quantityArb,
  dimensions: fc.oneof(fc.constant({}), dimsArb),
  ingested_at_ms: timestampArb,
});

/** Events whose ids are mostly ULIDs. */
export const ulidEventArb: fc.Arbitrary<UsageEvent> = fc.tuple(eventArb, ulidEventIdArb).map(([e, event_id]) => ({ ...e, event_id }));

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const cmpNullFirst = (a: string | null, b: string | null) => (a === b ? 0 : a === null ? -1 : b === null ? 1 : cmp(a, b));

/** The documented segment order (a stable sort, so ties keep input order). */
export function segmentOrder(events: readonly UsageEvent[]): UsageEvent[] {
  return [...events].sort(
    (x, y) =>
      cmp(x.account_id, y.account_id) ||
      cmp(x.product_id, y.product_id) ||
      cmp(x.meter_id, y.meter_id) ||
      cmpNullFirst(x.model_id, y.model_id) ||
      x.timestamp_ms - y.timestamp_ms ||
      cmp(x.event_id, y.event_id),
  );
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * A realistic batch: Zipf-ish accounts over 1,000 ids, 10 meters, 100 models, 2-3 dims, ULID
 * event ids, increasing timestamps (arrival order), one ingest stamp per ~1,000 events. Account
 * and subscription ids are opaque (Stripe-like `cus_…`/`sub_…`) unless `sequentialIds`
 * (`acct_000123`), which flatters gzip'd NDJSON.
 */
export function realisticEvents(count: number, seed = 42, sequentialIds = false): UsageEvent[] {
  const rnd = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const token = (n: number) => Array.from({ length: n }, () => pick([...BASE62])).join('');
  const zipf = (n: number) => Math.min(n - 1, Math.floor(n ** rnd()) - 1);
  const accounts = Array.from({ length: 1000 }, (_, i) => (sequentialIds ? `acct_${String(i).padStart(6, '0')}` : `cus_${token(14)}`));
  const subs = Array.from({ length: 1000 }, (_, i) => (sequentialIds ? `sub_${String(i).padStart(6, '0')}` : `sub_${token(24)}`));
  const meters = [
    'input_tokens',
    'output_tokens',
    'cached_tokens',
    'requests',
    'tool_calls',
    'images',
    'audio_seconds',
    'embeddings',
    'search_queries',
    'storage_gb_hours',
  ];
  const families = ['gpt-4o', 'gpt-4.1-mini', 'claude-sonnet', 'claude-haiku', 'llama-3.1-70b', 'mistral-large', 'gemini-flash', 'qwen-2.5'];
  const models = Array.from({ length: 100 }, (_, i) => `${families[i % families.length]}-${2024 + (i % 3)}-${String(1 + (i % 12)).padStart(2, '0')}-v${i}`);
  const regions = ['us-east-1', 'us-west-2', 'eu-west-1', 'ap-southeast-1'];
  const tiers = ['free', 'pro', 'enterprise'];
  const features = ['chat', 'batch', 'agent'];
  let t = 1_760_000_000_000;
  let ingested = t + 500;
  const out: UsageEvent[] = [];
  for (let i = 0; i < count; i++) {
    t += Math.floor(rnd() * 20);
    if (i % 1000 === 0) ingested = t + 300 + Math.floor(rnd() * 200);
    const acct = zipf(1000);
    const meter = pick(meters);
    const tokens = meter.endsWith('tokens');
    const dims: Record<string, string> = { region: pick(regions), tier: tiers[acct % 3]! };
    if (rnd() < 0.5) dims.feature = pick(features);
    const sorted = Object.fromEntries(
      Object.keys(dims)
        .sort()
        .map((k) => [k, dims[k]!]),
    );
    out.push({
      event_id: ulid(t, rnd),
      kind: rnd() < 0.98 ? 'Usage' : 'Correction',
      correction_ref: null,
      account_id: accounts[acct]!,
      subscription_id: subs[acct]!,
      product_id: tokens ? 'llm' : 'platform',
      meter_id: meter,
      model_id: tokens ? models[zipf(100)]! : null,
      source: 'api',
      unit: tokens ? 'token' : 'unit',
      timestamp_ms: t,
      quantity: BigInt(tokens ? Math.floor(rnd() * 4000) : 1 + Math.floor(rnd() * 3)),
      dimensions: sorted,
      ingested_at_ms: ingested,
    });
  }
  return out;
}
