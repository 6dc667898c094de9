/**
 * The load of the Worker concurrency tests (issue 19), shared by the store variants (S3 on MinIO:
 * worker-concurrency.minio.test.ts; the R2 binding: worker-concurrency-r2.test.ts): 16 ingest
 * requests at once on one cold isolate, with queries and a scheduled job run in between. workerd
 * cancels a request whose promise is settled from another request's context; nothing may be
 * shared across requests but data. Every request must answer 200 with exact per-event outcomes,
 * the totals must be exact, and the runtime must not warn about cross-request promises.
 */
import type { Miniflare as MiniflareType } from 'miniflare';
import { expect } from 'vitest';
import { callWorker, type RuntimeOutput, scheduledTarget } from './workerd.ts';
import { type WireEvent, wireEvent } from './wire-event.ts';

export const REQUESTS = 16;
const PER_REQUEST = 100;
const ACCOUNTS = 60;
const MARCH = Date.UTC(2026, 2, 1);

interface Sent {
  readonly event_id: string;
  readonly account_id: string;
  readonly quantity: number;
}

function event(run: string, r: number, i: number): WireEvent & Sent {
  const n = r * PER_REQUEST + i;
  return {
    ...wireEvent({ id: `conc-${run}-${n}`, account: `acct-${run}-${n % ACCOUNTS}`, at: MARCH + n * 61_000, quantity: 1 + (n % 997), varied: { n, models: 5 } }),
    quantity: 1 + (n % 997),
  };
}

/**
 * Request r: 100 events of its own, except that the last 10 repeat request r-1's first 10
 * (duplicates across requests, racing each other) and event 50 repeats event 49's id with another
 * quantity (a conflict inside the request, so always the second one).
 */
function batch(run: string, r: number): Record<string, unknown>[] {
  const events: Record<string, unknown>[] = [];
  for (let i = 0; i < PER_REQUEST - 10; i++) events.push(event(run, r, i));
  events[50] = { ...event(run, r, 49), quantity: 123_456 };
  const prev = (r + REQUESTS - 1) % REQUESTS;
  for (let i = 0; i < 10; i++) events.push(event(run, prev, i));
  return events;
}

/** Runs the load against a freshly started Worker (no request served yet) and asserts everything. */
export async function concurrentIngestsAnswerExactly(worker: MiniflareType, output: RuntimeOutput, secret: string): Promise<void> {
  const run = Date.now().toString(36);
  const call = (path: string, init: { method?: string; body?: unknown } = {}) => callWorker(worker, path, { ...init, secret });
  const range = 'from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z';
  // Cold isolate: the first requests all arrive at once, before anything is built.
  const ingests = Array.from({ length: REQUESTS }, (_, r) => call('/v1/usage/batch', { method: 'POST', body: { events: batch(run, r) } }));
  // Queries on two accounts only, so that they want the same segments at the same time.
  const queries = Array.from({ length: 8 }, (_, q) => call(`/v1/accounts/acct-${run}-${q % 2}/usage?${range}`));
  const cron = (await scheduledTarget(worker)).scheduled({ cron: '17 3 * * *', scheduledTime: new Date() });
  const answers = await Promise.all(ingests);
  const queried = await Promise.all(queries);
  const job = await cron;

  const failed = answers.filter((a) => a.status !== 200);
  expect(
    failed.map((a) => JSON.stringify(a.body).slice(0, 300)),
    output.explain(`${failed.length} of ${REQUESTS} ingests failed`),
  ).toEqual([]);
  for (const q of queried) expect(q.status, output.explain(JSON.stringify(q.body))).toBe(200);
  expect(job.outcome, output.explain('the scheduled run failed')).toBe('ok');

  // Per request: 89 distinct ids of its own (one of its 90 events is a conflict inside the
  // request) and 10 of its neighbour's; the 20 ids two requests share are accepted by whichever
  // committed first and answered as duplicates to the other.
  let accepted = 0;
  let duplicates = 0;
  for (const [r, a] of answers.entries()) {
    expect(a.body).toMatchObject({ conflicts: 1, rejected: 0 });
    expect(a.body.errors).toEqual([{ index: 50, event_id: event(run, r, 49).event_id, reason: expect.stringMatching(/^conflict/) }]);
    expect(a.body.accepted + a.body.duplicates).toBe(PER_REQUEST - 1);
    expect(a.body.accepted).toBeGreaterThanOrEqual(PER_REQUEST - 21);
    accepted += a.body.accepted;
    duplicates += a.body.duplicates;
  }
  // Every distinct event accepted exactly once across all requests.
  expect(accepted).toBe(REQUESTS * (PER_REQUEST - 11));
  expect(duplicates).toBe(REQUESTS * 10);

  // Exact totals per account, from the events each request sent (each id once; the conflict's
  // first copy is the one stored), asked all at once: the segments are not cached yet, and
  // several accounts share them.
  const truth = new Map<string, bigint>();
  for (let r = 0; r < REQUESTS; r++) {
    for (let i = 0; i < PER_REQUEST - 10; i++) {
      if (i === 50) continue;
      const e = event(run, r, i);
      truth.set(e.account_id, (truth.get(e.account_id) ?? 0n) + BigInt(e.quantity));
    }
  }
  const totals = await Promise.all([...truth.keys()].map((account) => call(`/v1/accounts/${account}/usage?${range}`)));
  for (const [i, [account, total]] of [...truth].entries()) {
    const res = totals[i]!;
    expect(res.status, output.explain(JSON.stringify(res.body))).toBe(200);
    expect(
      res.body.lines.reduce((s: bigint, l: { quantity: string }) => s + BigInt(l.quantity), 0n),
      account,
    ).toBe(total);
  }

  // workerd reports a promise settled across requests on stderr; give its output a moment.
  await new Promise((r) => setTimeout(r, 500));
  expect(output.text.includes('different request context'), output.explain('workerd warned about cross-request promises')).toBe(false);
  expect(output.text.includes('canceled this request'), output.explain('workerd canceled a request')).toBe(false);
}
