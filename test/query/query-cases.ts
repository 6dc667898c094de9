/**
 * Every query against an independent reference computed from the accepted events: totals,
 * counts, groupings, filters, cross-account ordering, SQL, pagination (every event exactly once),
 * month boundaries, pruning on/off, explain, and visibility across instances.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../../src/store/types.ts';
import { openInstance, postBatch, type Instance } from '../support/instance.ts';
import { generate, isoDay, MONTHS, reference, type RefEvent, type RefQuery } from './reference.ts';

export interface Backend {
  store: ObjectStore;
  prefix: string;
}

type Line = Record<string, string | number | null>;

const iso = (ms: number) => new Date(ms).toISOString();

async function get(inst: Instance, path: string): Promise<{ status: number; body: any }> {
  const res = await inst.app.request(path);
  return { status: res.status, body: await res.json() };
}

async function post(inst: Instance, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await inst.app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

function asMap(lines: Line[], keys: string[]): Map<string, [bigint, number]> {
  return new Map(lines.map((l) => [JSON.stringify(keys.map((k) => l[k] ?? null)), [BigInt(l.quantity as string), l.count as number]]));
}

export function describeQueries(name: string, make: () => Promise<Backend>, seeds: number[], perSeed: number): void {
  for (const seed of seeds) {
    describe(`queries (${name}, seed ${seed})`, () => {
      let a: Instance;
      let b: Instance;
      let unpruned: Instance;
      let events: RefEvent[];
      const accounts = () => [...new Set(events.map((e) => e.account_id))].sort();

      beforeAll(async () => {
        const { store, prefix } = await make();
        a = await openInstance(store, prefix, { seed });
        b = await openInstance(store, prefix, { seed: seed + 1 });
        unpruned = await openInstance(store, prefix, { seed: seed + 2, query: { prune: false } });
        events = generate(seed, perSeed);
        // Ingest through two instances in batches; then retries (duplicates) and conflicting
        // variants, which must change nothing.
        for (let i = 0; i < events.length; i += 250) {
          const r = await postBatch((i / 250) % 2 === 0 ? a.app : b.app, events.slice(i, i + 250));
          expect(r.body.accepted).toBe(Math.min(250, events.length - i));
        }
        const retry = await postBatch(b.app, events.slice(0, 300));
        expect(retry.body.duplicates).toBe(300);
        const conflicting = events.slice(300, 340).map((e) => ({ ...e, quantity: 1 }));
        expect((await postBatch(a.app, conflicting)).body.conflicts).toBe(40);
      }, 120_000);

      it('account totals per month and over the whole range match the reference (sum and count)', async () => {
        for (const account of accounts()) {
          for (let m = 0; m < 3; m++) {
            const r = await get(a, `/v1/accounts/${account}/usage?from=${iso(MONTHS[m]!)}&to=${iso(MONTHS[m + 1]!)}`);
            expect(r.status).toBe(200);
            const want = reference(events, { account, from: MONTHS[m]!, to: MONTHS[m + 1]! }).get('[]') ?? [0n, 0];
            const got = r.body.lines[0] === undefined ? [0n, 0] : [BigInt(r.body.lines[0].quantity), r.body.lines[0].count];
            expect(got).toEqual(want);
          }
        }
      });

      it('adjacent months never double-count a boundary event', async () => {
        const boundary = events.filter((e) => MONTHS.slice(1).includes(e.timestamp_ms));
        expect(boundary.length).toBeGreaterThan(0);
        for (const account of new Set(boundary.map((e) => e.account_id))) {
          const total = async (from: number, to: number) => {
            const r = await get(b, `/v1/accounts/${account}/usage?from=${iso(from)}&to=${iso(to)}`);
            return r.body.lines[0] === undefined ? 0n : BigInt(r.body.lines[0].quantity);
          };
          const [sep, oct, both] = await Promise.all([total(MONTHS[1]!, MONTHS[2]!), total(MONTHS[2]!, MONTHS[3]!), total(MONTHS[1]!, MONTHS[3]!)]);
          expect(sep + oct).toBe(both);
        }
      });

      it('groupings and filters match the reference', async () => {
        const account = accounts()[0]!;
        const from = MONTHS[0]!;
        const to = MONTHS[3]!;
        const cases: [string, string[], RefQuery['group'], RefQuery['where']][] = [
          ['group_by=product_id,meter_id,model_id', ['product_id', 'meter_id', 'model_id'], (e) => [e.product_id, e.meter_id, e.model_id ?? null], undefined],
          ['group_by=day', ['day'], (e) => [isoDay(e.timestamp_ms)], undefined],
          [
            'group_by=month,kind',
            ['month', 'kind'],
            (e) => [iso(Date.UTC(new Date(e.timestamp_ms).getUTCFullYear(), new Date(e.timestamp_ms).getUTCMonth(), 1)), e.kind],
            undefined,
          ],
          ['group_by=dim:region', ['dim:region'], (e) => [e.dimensions.region ?? null], undefined],
          ['group_by=region,subscription_id', ['dim:region', 'subscription_id'], (e) => [e.dimensions.region ?? null, e.subscription_id ?? null], undefined],
          ['group_by=unit&meter_id=tokens.in', ['unit'], (e) => [e.unit], (e) => e.meter_id === 'tokens.in'],
          [
            'group_by=source&product_id=chat,embed&model_id=m-a',
            ['source'],
            (e) => [e.source],
            (e) => ['chat', 'embed'].includes(e.product_id) && e.model_id === 'm-a',
          ],
        ];
        for (const [qs, keys, group, where] of cases) {
          const r = await get(a, `/v1/accounts/${account}/usage?from=${iso(from)}&to=${iso(to)}&${qs}`);
          expect(r.status, qs).toBe(200);
          expect(asMap(r.body.lines, keys), qs).toEqual(reference(events, { account, from, to, group, where }));
        }
      });

      it('pruning never changes an answer', async () => {
        for (const account of accounts().slice(0, 4)) {
          for (const qs of ['', '&group_by=meter_id,day', '&meter_id=images', '&model_id=m-b&group_by=kind']) {
            const path = `/v1/accounts/${account}/usage?from=${iso(MONTHS[1]!)}&to=${iso(MONTHS[2]! + 7 * 86_400_000)}${qs}`;
            const [p, u] = await Promise.all([get(a, path), get(unpruned, path)]);
            expect(p.body.lines).toEqual(u.body.lines);
          }
        }
      });

      it('cross-account JSON query: top accounts by sum for a month, and the same through SQL', async () => {
        const from = MONTHS[1]!;
        const to = MONTHS[2]!;
        const ref = [...reference(events, { from, to, where: (e) => e.meter_id === 'tokens.out', group: (e) => [e.account_id] })]
          .map(([k, [s, c]]) => ({ account_id: JSON.parse(k)[0] as string, quantity: s.toString(), count: c }))
          .sort((x, y) => (BigInt(y.quantity) > BigInt(x.quantity) ? 1 : BigInt(y.quantity) < BigInt(x.quantity) ? -1 : x.account_id < y.account_id ? -1 : 1))
          .slice(0, 5);
        const j = await post(a, '/v1/query/json', {
          from: iso(from),
          to: iso(to),
          group_by: ['account_id'],
          filters: { meter_id: 'tokens.out' },
          metrics: ['sum', 'count'],
          order_by: [{ key: 'sum', direction: 'desc' }],
          limit: 5,
        });
        expect(j.status).toBe(200);
        expect(j.body.lines.map((l: Line) => ({ account_id: l.account_id, quantity: l.quantity, count: l.count }))).toEqual(ref);
        const sql = `SELECT account_id, SUM(quantity), COUNT(*) FROM usage_events WHERE timestamp_ms >= ${from} AND timestamp_ms < ${to} AND meter_id = 'tokens.out' GROUP BY account_id ORDER BY SUM(quantity) DESC LIMIT 5`;
        const s = await post(b, '/v1/query/sql', { sql });
        expect(s.status).toBe(200);
        expect(s.body.lines.map((l: Line) => ({ account_id: l.account_id, quantity: l.quantity, count: l.count }))).toEqual(ref);
      });

      it('SQL distinguishes < from <= on timestamp_ms', async () => {
        const e = events.find((x) => MONTHS.includes(x.timestamp_ms))!;
        const base = `SELECT SUM(quantity), COUNT(*) FROM usage_events WHERE account_id = '${e.account_id}' AND timestamp_ms >= ${MONTHS[0]} AND timestamp_ms`;
        const lt = await post(a, '/v1/query/sql', { sql: `${base} < ${e.timestamp_ms}` });
        const le = await post(a, '/v1/query/sql', { sql: `${base} <= ${e.timestamp_ms}` });
        const at = reference(events, { account: e.account_id, from: e.timestamp_ms, to: e.timestamp_ms + 1 }).get('[]')!;
        expect(le.body.lines[0].count - (lt.body.lines[0]?.count ?? 0)).toBe(at[1]);
      });

      it('audit pagination returns every event of the range exactly once, in (timestamp, id) order', async () => {
        for (const account of accounts().slice(0, 3)) {
          const from = MONTHS[0]!;
          const to = MONTHS[2]!;
          const want = events.filter((e) => e.account_id === account && e.timestamp_ms >= from && e.timestamp_ms < to);
          const got: { event_id: string; timestamp_ms: number; quantity: string }[] = [];
          let cursor: string | null = null;
          let pages = 0;
          do {
            const r = await get(b, `/v1/accounts/${account}/usage/events?from=${iso(from)}&to=${iso(to)}&limit=37${cursor ? `&cursor=${cursor}` : ''}`);
            expect(r.status).toBe(200);
            got.push(...r.body.events);
            cursor = r.body.next_cursor;
            pages++;
          } while (cursor !== null && pages < 1000);
          expect(got.map((g) => g.event_id).sort()).toEqual(want.map((e) => e.event_id).sort());
          const sorted = [...got].sort((x, y) => x.timestamp_ms - y.timestamp_ms || (x.event_id < y.event_id ? -1 : 1));
          expect(got).toEqual(sorted);
          const byId = new Map(want.map((e) => [e.event_id, e]));
          for (const g of got) expect(g.quantity).toBe(BigInt(byId.get(g.event_id)!.quantity).toString());
        }
      });

      it('explain: invoice lines plus corrections equal the total, segments listed', async () => {
        const account = accounts()[1]!;
        const from = MONTHS[0]!;
        const to = MONTHS[3]!;
        const r = await get(a, `/v1/accounts/${account}/explain?from=${iso(from)}&to=${iso(to)}`);
        expect(r.status).toBe(200);
        const usage = reference(events, {
          account,
          from,
          to,
          where: (e) => e.kind === 'Usage',
          group: (e) => [e.product_id, e.meter_id, e.model_id ?? null, e.source, e.unit],
        });
        expect(asMap(r.body.lines, ['product_id', 'meter_id', 'model_id', 'source', 'unit'])).toEqual(usage);
        const adj = reference(events, { account, from, to, where: (e) => e.kind !== 'Usage' }).get('[]') ?? [0n, 0];
        expect(BigInt(r.body.corrections_quantity)).toBe(adj[0]);
        expect(r.body.corrections).toHaveLength(adj[1]);
        const total = reference(events, { account, from, to }).get('[]')!;
        expect(r.body.segments.reduce((s: bigint, x: { quantity: string }) => s + BigInt(x.quantity), 0n)).toBe(total[0]);
        expect(r.body.segments.reduce((s: number, x: { rows: number }) => s + x.rows, 0)).toBe(total[1]);
      });

      it('an ungrouped total over nothing is one zero line (usage, JSON and SQL); grouped, no lines', async () => {
        const range = `from=${iso(MONTHS[0]!)}&to=${iso(MONTHS[3]!)}`;
        expect((await get(b, `/v1/accounts/nobody/usage?${range}`)).body.lines).toEqual([{ quantity: '0', count: 0 }]);
        expect((await get(b, `/v1/accounts/nobody/usage?${range}&group_by=meter_id`)).body.lines).toEqual([]);
        const json = await b.app.request('/v1/query/json', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ account_id: 'nobody', from: iso(MONTHS[0]!), to: iso(MONTHS[3]!), metrics: ['count'] }),
        });
        expect(((await json.json()) as { lines: unknown }).lines).toEqual([{ count: 0 }]);
        const sql = await b.app.request('/v1/query/sql', {
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: `SELECT SUM(quantity) FROM usage_events WHERE account_id = 'nobody' AND timestamp_ms >= ${MONTHS[0]} AND timestamp_ms < ${MONTHS[3]}`,
        });
        expect(((await sql.json()) as { lines: unknown }).lines).toEqual([{ quantity: '0' }]);
      });

      it('read-your-writes on an instance; another instance sees the commit on its next request', async () => {
        const account = 'acct-fresh';
        const path = `/v1/accounts/${account}/usage?from=${iso(MONTHS[0]!)}&to=${iso(MONTHS[3]!)}`;
        expect((await get(b, path)).body.lines).toEqual([{ quantity: '0', count: 0 }]);
        await postBatch(a.app, [{ ...events[0]!, event_id: `fresh-${seed}`, account_id: account, quantity: 7, timestamp_ms: MONTHS[1]! }]);
        expect((await get(a, path)).body.lines[0]).toMatchObject({ quantity: '7', count: 1 });
        expect((await get(b, path)).body.lines[0]).toMatchObject({ quantity: '7', count: 1 });
      });
    });
  }
}
