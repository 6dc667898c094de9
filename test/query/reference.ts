/**
 * A generated workload and an independent reference: the answers computed directly from the
 * list of accepted events with plain loops and BigInt, sharing no code with the query engine.
 */
import { seededRandom } from '../../src/model/deps.ts';

export interface RefEvent {
  event_id: string;
  kind: 'Usage' | 'Correction' | 'Retraction';
  correction_ref?: { original_event_id: string; reason: string };
  account_id: string;
  subscription_id?: string;
  product_id: string;
  meter_id: string;
  model_id?: string;
  source: string;
  unit: string;
  timestamp_ms: number;
  quantity: number | string;
  dimensions: Record<string, string>;
}

export const MONTHS = [Date.UTC(2026, 7, 1), Date.UTC(2026, 8, 1), Date.UTC(2026, 9, 1), Date.UTC(2026, 10, 1)];

/** `n` distinct events over accounts, three months, corrections and some 128-bit quantities. */
export function generate(seed: number, n: number, accounts = 12): RefEvent[] {
  const r = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const out: RefEvent[] = [];
  for (let i = 0; i < n; i++) {
    // A few events sit exactly on month boundaries.
    const ts = i % 97 === 0 ? pick(MONTHS.slice(1)) : MONTHS[0]! + Math.floor(r() * (MONTHS[3]! - MONTHS[0]!));
    const kind = r() < 0.05 ? pick(['Correction', 'Retraction'] as const) : 'Usage';
    const big = r() < 0.02;
    const q = big
      ? (BigInt(Math.floor(r() * 1e9)) * 10n ** 20n + BigInt(i)).toString()
      : kind === 'Usage'
        ? 1 + Math.floor(r() * 5000)
        : -Math.floor(r() * 500);
    const e: RefEvent = {
      event_id: `s${seed}-e${i}`,
      kind,
      account_id: `acct-${Math.floor(r() ** 2 * accounts)}`,
      product_id: pick(['chat', 'embed', 'batch']),
      meter_id: pick(['tokens.in', 'tokens.out', 'requests', 'images']),
      source: pick(['api', 'console']),
      unit: pick(['tokens', 'units']),
      timestamp_ms: ts,
      quantity: q,
      dimensions: r() < 0.3 ? {} : { region: pick(['eu', 'us', 'ap']), ...(r() < 0.5 ? { tier: pick(['free', 'pro']) } : {}) },
    };
    if (r() < 0.8) e.model_id = pick(['m-a', 'm-b', 'm-c', 'm-d']);
    if (r() < 0.3) e.subscription_id = pick(['sub-1', 'sub-2']);
    if (kind !== 'Usage') e.correction_ref = { original_event_id: `s${seed}-e${Math.max(0, i - 1)}`, reason: 'adjust' };
    out.push(e);
  }
  return out;
}

export interface RefQuery {
  account?: string;
  from: number;
  to: number;
  where?: (e: RefEvent) => boolean;
  group?: (e: RefEvent) => (string | null)[];
}

/** Group values (as JSON) → [sum, count]. */
export function reference(events: readonly RefEvent[], q: RefQuery): Map<string, [bigint, number]> {
  const out = new Map<string, [bigint, number]>();
  for (const e of events) {
    if (q.account !== undefined && e.account_id !== q.account) continue;
    if (e.timestamp_ms < q.from || e.timestamp_ms >= q.to) continue;
    if (q.where !== undefined && !q.where(e)) continue;
    const key = JSON.stringify(q.group === undefined ? [] : q.group(e));
    const cur = out.get(key) ?? [0n, 0];
    cur[0] += BigInt(e.quantity);
    cur[1]++;
    out.set(key, cur);
  }
  return out;
}

export const isoDay = (ms: number) => new Date(Math.floor(ms / 86_400_000) * 86_400_000).toISOString();
