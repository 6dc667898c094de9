/**
 * A realistic generated workload for benchmarks: Zipf-distributed accounts, ~10 meters, 100
 * models, a few dimensions, ULID event ids, timestamps spread over a period. Seeded.
 */
import { ulid } from 'ulidx';
import { seededRandom } from '../../src/model/deps.ts';

export interface WorkloadOptions {
  readonly accounts: number;
  readonly seed: number;
  /** Timestamps are spread uniformly over [startMs, startMs + spanMs). */
  readonly startMs: number;
  readonly spanMs: number;
}

const METERS = [
  'tokens.input',
  'tokens.output',
  'tokens.cached',
  'requests',
  'images',
  'audio.seconds',
  'tool.calls',
  'embeddings',
  'credits',
  'storage.gb_hours',
];
const PRODUCTS = ['chat', 'assistants', 'embeddings', 'batch'];
const REGIONS = ['us-east', 'us-west', 'eu-west', 'ap-south'];
const TIERS = ['free', 'pro', 'enterprise'];

export type WireEvent = Record<string, unknown>;

export class Workload {
  private readonly random: () => number;
  private readonly cdf: Float64Array;
  private readonly opts: WorkloadOptions;

  constructor(opts: Partial<WorkloadOptions> = {}) {
    this.opts = { accounts: 10_000, seed: 42, startMs: Date.UTC(2026, 7, 1), spanMs: 90 * 86_400_000, ...opts };
    this.random = seededRandom(this.opts.seed);
    // Zipf(s = 1.1) over accounts: a few heavy accounts, a long tail.
    const w = new Float64Array(this.opts.accounts);
    let sum = 0;
    for (let i = 0; i < w.length; i++) sum += w[i] = 1 / (i + 1) ** 1.1;
    let acc = 0;
    this.cdf = w.map((x) => (acc += x / sum));
  }

  account(): string {
    const u = this.random();
    let lo = 0;
    let hi = this.cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return `acct_${String(lo).padStart(6, '0')}`;
  }

  event(): WireEvent {
    const r = this.random;
    const ts = this.opts.startMs + Math.floor(r() * this.opts.spanMs);
    const meter = METERS[Math.floor(r() * METERS.length)]!;
    const dims: Record<string, string> = { region: REGIONS[Math.floor(r() * REGIONS.length)]! };
    if (r() < 0.7) dims.tier = TIERS[Math.floor(r() * TIERS.length)]!;
    if (r() < 0.3) dims.api_key = `key_${Math.floor(r() * 50)}`;
    return {
      event_id: ulid(ts, r),
      account_id: this.account(),
      product_id: PRODUCTS[Math.floor(r() * PRODUCTS.length)]!,
      meter_id: meter,
      model_id: `model-${Math.floor(r() * 100)}`,
      source: r() < 0.9 ? 'api' : 'batch',
      unit: meter.startsWith('tokens') ? 'tokens' : 'units',
      timestamp_ms: ts,
      quantity: 1 + Math.floor(r() ** 3 * 20_000),
      dimensions: dims,
    };
  }

  events(n: number): WireEvent[] {
    return Array.from({ length: n }, () => this.event());
  }
}
