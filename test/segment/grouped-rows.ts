/** Rollup rows for the row-group tests (segment and query level). */
import { seededRandom } from '../../src/model/deps.ts';
import { HOUR_MS, type RollupRow } from '../../src/segment/rollup.ts';

/** Hour 0 of the rows: 2026-01-01; rows spread over 90 days from it. */
export const H0 = Date.UTC(2026, 0, 1);

/** Rows of `accounts` accounts, Zipf-ish: the first account has far more rows than the rest. */
export function rollupRows(seed: number, accounts: number, heavyRows: number): RollupRow[] {
  const rnd = seededRandom(seed);
  const rows: RollupRow[] = [];
  for (let a = 0; a < accounts; a++) {
    const n = a === 0 ? heavyRows : 1 + Math.floor(rnd() * 12);
    for (let i = 0; i < n; i++) {
      const hour = H0 + Math.floor(rnd() * 24 * 90) * HOUR_MS;
      rows.push({
        account_id: `acct_${String(a).padStart(4, '0')}`,
        subscription_id: rnd() < 0.5 ? null : 'sub',
        product_id: rnd() < 0.5 ? 'llm' : 'search',
        meter_id: rnd() < 0.5 ? 'tokens' : 'requests',
        model_id: rnd() < 0.3 ? null : `m${Math.floor(rnd() * 3)}`,
        source: 'api',
        unit: 'unit',
        kind: 'Usage',
        dimensions: {},
        hour_ms: hour,
        quantity_sum: BigInt(Math.floor(rnd() * 1e9)) - 1000n,
        event_count: 1 + Math.floor(rnd() * 50),
        first_event_ms: hour + 1,
        last_event_ms: hour + 2,
      });
    }
  }
  // Any input order: the encoder sorts.
  return rows.sort(() => rnd() - 0.5);
}
