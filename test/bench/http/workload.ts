/**
 * The HTTP benchmark's AI-usage workload: deterministic for a seed, with the truth it implies.
 *
 * - 10,000 accounts drawn Zipf(s = 1.1): a few heavy tenants, a long tail.
 * - 10 meters with their units and quantity shapes, 100 models, 4 products, 5 sources, a few
 *   dimensions (region always; agent, tool and plan tier sometimes).
 * - ULID-style event ids (48-bit millisecond time + 80 random bits, Crockford base32).
 * - Timestamps over the three whole UTC months before `endMs`, roughly in arrival order with 2%
 *   late events (up to 6 h back), so always in the past and inside what the server accepts.
 * - 2% of the slots of every batch after the first re-send an event from an earlier batch
 *   unchanged (a client retry): the server must answer it `duplicate` and count it once.
 *
 * The truth is per (account, UTC month): quantity and count over the unique events only.
 * Nothing here imports the server: the bench talks to it over HTTP like any client.
 */

export interface UsageEvent {
  readonly event_id: string;
  readonly kind: 'Usage';
  readonly account_id: string;
  readonly product_id: string;
  readonly meter_id: string;
  readonly model_id?: string;
  readonly source: string;
  readonly unit: string;
  readonly timestamp_ms: number;
  readonly quantity: number;
  readonly dimensions: Readonly<Record<string, string>>;
}

export interface WorkloadSpec {
  readonly seed: number;
  /** Events sent, retries included; batches are exactly `batch` long (the last may be shorter). */
  readonly events: number;
  readonly batch: number;
  readonly accounts: number;
  readonly retryRate: number;
  /** Exclusive end of the timestamp range; the range is the three UTC months before it. */
  readonly endMs: number;
}

export interface AccountMonth {
  readonly account_id: string;
  /** `YYYY-MM` */
  readonly month: string;
  readonly quantity: bigint;
  readonly count: number;
}

export interface Workload {
  readonly spec: WorkloadSpec;
  readonly batches: readonly (readonly UsageEvent[])[];
  readonly sent: number;
  /** Distinct events among those sent: what `accepted` must add up to. */
  readonly unique: number;
  readonly retries: number;
  readonly fromMs: number;
  readonly truth: ReadonlyMap<string, AccountMonth>;
  /** Sum of the quantities of the distinct events. */
  readonly totalQuantity: bigint;
}

/** mulberry32: small, fast, and the same sequence for the same seed on every platform. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Start of the current UTC month: the default end of the range (deterministic for a month). */
export function currentMonthStart(now = Date.now()): number {
  const d = new Date(now);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

export const monthOf = (ms: number): string => new Date(ms).toISOString().slice(0, 7);

interface Meter {
  readonly id: string;
  readonly unit: string;
  readonly product: string;
  readonly hasModel: boolean;
  readonly quantity: (r: () => number) => number;
}

const logUniform = (lo: number, hi: number) => (r: () => number) => Math.max(1, Math.floor(Math.exp(Math.log(lo) + r() * (Math.log(hi) - Math.log(lo)))));
const METERS: readonly Meter[] = [
  { id: 'tokens.input', unit: 'token', product: 'ai_gateway', hasModel: true, quantity: logUniform(20, 60_000) },
  { id: 'tokens.output', unit: 'token', product: 'ai_gateway', hasModel: true, quantity: logUniform(10, 8_000) },
  { id: 'tokens.cached_input', unit: 'token', product: 'ai_gateway', hasModel: true, quantity: logUniform(100, 100_000) },
  { id: 'tokens.reasoning', unit: 'token', product: 'agents', hasModel: true, quantity: logUniform(50, 30_000) },
  { id: 'tokens.embedding', unit: 'token', product: 'embeddings', hasModel: true, quantity: logUniform(5, 8_000) },
  { id: 'requests.llm', unit: 'request', product: 'ai_gateway', hasModel: true, quantity: () => 1 },
  { id: 'images.generated', unit: 'image', product: 'ai_gateway', hasModel: true, quantity: (r) => 1 + Math.floor(r() * 4) },
  { id: 'audio.seconds', unit: 'second', product: 'ai_gateway', hasModel: true, quantity: logUniform(1, 3_600) },
  { id: 'tool.calls', unit: 'call', product: 'agents', hasModel: false, quantity: (r) => 1 + Math.floor(r() ** 4 * 10) },
  { id: 'agent.runtime_ms', unit: 'ms', product: 'agents', hasModel: false, quantity: logUniform(100, 600_000) },
];
// Token meters dominate real traffic: the first five get twice the weight of the others.
const METER_WEIGHTS = METERS.map((m) => (m.unit === 'token' ? 2 : 1));
const PROVIDERS = ['anthropic', 'openai', 'google', 'meta', 'mistral'];
const MODELS = Array.from({ length: 100 }, (_, i) => `${PROVIDERS[i % PROVIDERS.length]}.model-${String(i).padStart(3, '0')}`);
const SOURCES = ['gw-eu', 'gw-us', 'gw-ap', 'sdk', 'batch'];
const REGIONS = ['eu-west-1', 'us-east-1', 'us-west-2', 'ap-south-1'];
const AGENTS = Array.from({ length: 50 }, (_, i) => `agent-${i}`);
const TOOLS = Array.from({ length: 20 }, (_, i) => `tool-${i}`);
const TIERS = ['free', 'pro', 'team', 'enterprise'];

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A ULID-style id: 10 characters of millisecond time, 16 of randomness (from the seeded PRNG). */
export function ulidLike(ms: number, r: () => number): string {
  let time = '';
  for (let i = 0, t = ms; i < 10; i++, t = Math.floor(t / 32)) time = CROCKFORD[t % 32]! + time;
  let random = '';
  for (let i = 0; i < 16; i++) random += CROCKFORD[Math.floor(r() * 32)]!;
  return time + random;
}

function cumulative(weights: readonly number[]): Float64Array {
  const total = weights.reduce((a, b) => a + b, 0);
  let acc = 0;
  return Float64Array.from(weights, (w) => (acc += w / total));
}

/** Index of the first cumulative weight >= u. */
function pickIndex(cdf: Float64Array, u: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid]! < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export const DEFAULT_SPEC: Omit<WorkloadSpec, 'events' | 'batch'> = { seed: 1, accounts: 10_000, retryRate: 0.02, endMs: currentMonthStart() };

export function generateWorkload(input: Pick<WorkloadSpec, 'events' | 'batch'> & Partial<WorkloadSpec>): Workload {
  const spec: WorkloadSpec = { ...DEFAULT_SPEC, ...input };
  if (!(spec.batch >= 1 && spec.events >= 1)) throw new Error('workload: events and batch must be >= 1');
  const r = prng(spec.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const end = new Date(spec.endMs);
  const fromMs = Date.UTC(end.getUTCFullYear(), end.getUTCMonth() - 3, 1);
  const span = spec.endMs - fromMs;
  const accountCdf = cumulative(Array.from({ length: spec.accounts }, (_, i) => 1 / (i + 1) ** 1.1));
  const meterCdf = cumulative(METER_WEIGHTS);

  const fresh: UsageEvent[] = [];
  const newEvent = (i: number): UsageEvent => {
    // Arrival order follows time; 2% arrive late (up to 6 h behind), never before the range.
    let ts = fromMs + Math.floor((i / spec.events) * span) + Math.floor(r() * 1000);
    if (r() < 0.02) ts = Math.max(fromMs, ts - Math.floor(r() * 6 * 3_600_000));
    const meter = METERS[pickIndex(meterCdf, r())]!;
    const dimensions: Record<string, string> = { region: pick(REGIONS) };
    if (meter.product === 'agents' || r() < 0.3) dimensions.agent = pick(AGENTS);
    if (meter.id === 'tool.calls') dimensions.tool = pick(TOOLS);
    if (r() < 0.5) dimensions.tier = pick(TIERS);
    const model = meter.hasModel ? pick(MODELS) : undefined;
    return {
      event_id: ulidLike(ts, r),
      kind: 'Usage',
      account_id: `acct_${String(pickIndex(accountCdf, r())).padStart(5, '0')}`,
      product_id: meter.product,
      meter_id: meter.id,
      ...(model === undefined ? {} : { model_id: model }),
      source: pick(SOURCES),
      unit: meter.unit,
      timestamp_ms: ts,
      quantity: meter.quantity(r),
      dimensions,
    };
  };

  const batches: UsageEvent[][] = [];
  let retries = 0;
  for (let at = 0; at < spec.events; at += spec.batch) {
    const earlier = fresh.length; // events of earlier batches only
    const batch: UsageEvent[] = [];
    for (let j = 0; j < Math.min(spec.batch, spec.events - at); j++) {
      if (earlier > 0 && r() < spec.retryRate) {
        batch.push(fresh[Math.floor(r() * earlier)]!);
        retries++;
      } else {
        const e = newEvent(at + j);
        fresh.push(e);
        batch.push(e);
      }
    }
    batches.push(batch);
  }

  const truth = new Map<string, AccountMonth>();
  let totalQuantity = 0n;
  for (const e of fresh) {
    totalQuantity += BigInt(e.quantity);
    const month = monthOf(e.timestamp_ms);
    const key = `${e.account_id}|${month}`;
    const t = truth.get(key);
    truth.set(key, { account_id: e.account_id, month, quantity: (t?.quantity ?? 0n) + BigInt(e.quantity), count: (t?.count ?? 0) + 1 });
  }
  return { spec, batches, sent: spec.events, unique: fresh.length, retries, fromMs, truth, totalQuantity };
}

/** Account-months to check: the `heavy` with most events, then `random` others (seeded). */
export function sampleAccountMonths(w: Workload, heavy: number, random: number, seed: number): AccountMonth[] {
  const all = [...w.truth.values()].sort((a, b) => b.count - a.count || (a.account_id < b.account_id ? -1 : 1));
  const picked = all.slice(0, heavy);
  const rest = all.slice(heavy);
  const r = prng(seed ^ 0x5eed);
  for (let i = 0; i < random && rest.length > 0; i++) picked.push(rest.splice(Math.floor(r() * rest.length), 1)[0]!);
  return picked;
}

/** Request bodies, serialized once before timing. The reference wants `ingested_at_ms` and `{"inner": {...}}` dimensions. */
export function bodies(w: Workload, format: 'ours' | 'reference'): string[] {
  const wire = (e: UsageEvent): object => (format === 'ours' ? e : { ...e, dimensions: { inner: e.dimensions }, ingested_at_ms: 0 });
  return w.batches.map((b) => JSON.stringify({ events: b.map(wire) }));
}
