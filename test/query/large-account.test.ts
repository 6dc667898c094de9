/**
 * One account with hundreds of thousands of events in one segment (a large customer after
 * compaction): the audit page, compaction and totals work. Rows were once gathered with
 * `push(...rows)`, which overflows the call stack past about 100k rows.
 */
import { describe, expect, it } from 'vitest';
import { runJob } from '../../src/jobs/run.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance, postBatch } from '../support/instance.ts';

const N = 200_000;
const T0 = Date.UTC(2026, 8, 3);

describe('one account with 200,000 events in one segment', () => {
  it('compacts into one segment, totals exactly, and pages its audit rows in order', async () => {
    const a = await openInstance(new MemoryStore(), 'big', { shards: 1, buckets: 4 });
    for (let i = 0; i < N; i += 10_000) {
      const batch = Array.from({ length: 10_000 }, (_, j) => ({
        event_id: `e${String(i + j).padStart(7, '0')}`,
        account_id: 'big-customer',
        product_id: 'p',
        meter_id: 'tokens',
        source: 'api',
        unit: 'tokens',
        timestamp_ms: T0 + ((i + j) % 86_000) * 1000,
        quantity: 1,
      }));
      expect((await postBatch(a.app, batch)).body).toMatchObject({ accepted: 10_000 });
    }
    expect((await runJob(a.db, 'compact', { compact: { graceMs: 0 } })).results[0]).toMatchObject({ committed: true, rows_out: N });
    const m = (await a.db.shards[0]!.revalidate()).manifest;
    expect(m.segments.filter((s) => s.rows >= 100_000)).toHaveLength(1);

    const from = new Date(T0).toISOString();
    const to = new Date(T0 + 86_400_000).toISOString();
    const total = (await (await a.app.request(`/v1/accounts/big-customer/usage?from=${from}&to=${to}`)).json()) as {
      lines: { quantity: string; count: number }[];
    };
    expect(total.lines[0]).toMatchObject({ quantity: String(N), count: N });

    const page = async (cursor?: string) => {
      const r = await a.app.request(`/v1/accounts/big-customer/usage/events?from=${from}&to=${to}&limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.status).toBe(200);
      return (await r.json()) as { events: { event_id: string; timestamp_ms: number }[]; next_cursor: string | null };
    };
    const first = await page();
    expect(first.events).toHaveLength(1000);
    // (timestamp, id) order: second 0 holds e0000000, e0086000, e0172000; then second 1.
    expect(first.events.slice(0, 4).map((e) => e.event_id)).toEqual(['e0000000', 'e0086000', 'e0172000', 'e0000001']);
    const second = await page(first.next_cursor!);
    expect(second.events[0]!.timestamp_ms).toBeGreaterThanOrEqual(first.events[999]!.timestamp_ms);
    expect(new Set([...first.events, ...second.events].map((e) => e.event_id)).size).toBe(2000);
  }, 120_000);
});
