/**
 * Four instances ingest concurrently into ONE shard through a store that refuses a key written
 * again within the interval, as R2 does (the simulated per-key write limit, shared by all four as
 * R2's limit is shared by a fleet). Every commit of the shard rewrites the same manifest key, so
 * commits throttle each other; the commit loop waits them out, a commit that runs out of time
 * answers 503 with Retry-After, and clients retry the same batch after that long. In the end:
 * every request answered 200, every event stored exactly once, exact totals — nothing lost,
 * nothing doubled.
 */
import { describe, expect, it } from 'vitest';
import { isUsageDbError } from '../../src/errors.ts';
import { DEFAULT_COMMIT_POLICY } from '../../src/manifest/backoff.ts';
import { withKeyWriteLimit } from '../../src/store/key-write-limit.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance, storedEvents, type Instance } from '../support/instance.ts';
import { type WireEvent, wireEvent } from '../support/wire-event.ts';

const INSTANCES = 4;
const CLIENTS_PER_INSTANCE = 3;
const BATCHES_PER_CLIENT = 3;
const PER_BATCH = 40;
const SHARED = 5;
const INTERVAL_MS = 250;
const JAN = Date.UTC(2026, 0, 5);

interface Sent {
  readonly event_id: string;
  readonly account_id: string;
  readonly quantity: string;
}

const clientsTotal = INSTANCES * CLIENTS_PER_INSTANCE;

function own(client: number, batch: number, i: number): WireEvent & Sent {
  const n = (client * BATCHES_PER_CLIENT + batch) * PER_BATCH + i;
  // Some beyond 2^53, as decimal strings: sums must stay exact.
  const quantity = n % 10 === 0 ? (2n ** 60n + BigInt(n)).toString() : String(1 + (n % 1000));
  return { ...wireEvent({ id: `lim-${client}-${batch}-${i}`, account: `acct-${n % 9}`, at: JAN + n * 7_000, quantity, varied: { n, models: 3 } }), quantity };
}

/** A client's batch: its own events, and the first SHARED of the next client's same batch (cross-instance duplicates). */
function batchOf(client: number, batch: number): Record<string, unknown>[] {
  const events: Record<string, unknown>[] = [];
  for (let i = 0; i < PER_BATCH; i++) events.push(own(client, batch, i));
  for (let i = 0; i < SHARED; i++) events.push(own((client + 1) % clientsTotal, batch, i));
  return events;
}

interface Answer {
  status: number;
  body: { accepted: number; duplicates: number; conflicts: number; rejected: number };
}

/** POSTs one batch until it is answered 200, waiting Retry-After after every 503 (as the README tells clients). */
async function ingestUntilOk(inst: Instance, events: Record<string, unknown>[], retries: { count: number; codes: string[] }): Promise<Answer> {
  for (let attempt = 1; attempt <= 40; attempt++) {
    const res = await inst.app.request('/v1/usage/batch', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    const body = (await res.json()) as Answer['body'] & { error?: { code: string } };
    if (res.status === 200) return { status: 200, body };
    if (res.status !== 503) throw new Error(`unexpected ${res.status}: ${JSON.stringify(body)}`);
    const after = Number(res.headers.get('retry-after'));
    expect(after, 'a 503 carries Retry-After').toBeGreaterThan(0);
    retries.count++;
    retries.codes.push(body.error?.code ?? '?');
    await new Promise((r) => setTimeout(r, after * 1000));
  }
  throw new Error('a batch was never answered 200');
}

/**
 * Opens an instance as the Node entry starts: a store error at start (here: db.json or the probe
 * key throttled while another instance writes it) is waited out and the start tried again.
 */
async function openLikeNode(open: () => Promise<Instance>, starts: { retried: number }): Promise<Instance> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await open();
    } catch (err) {
      if (!isUsageDbError(err) || attempt >= 8) throw err;
      starts.retried++;
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
  }
}

describe('ingest through the simulated R2 per-key write limit', () => {
  it('4 instances ingesting into one shard: all requests end 200, nothing lost, nothing doubled, exact totals', async () => {
    const store = withKeyWriteLimit(new MemoryStore(), { intervalMs: INTERVAL_MS });
    // The production commit policy, with a shorter time bound so that some commits give up (503)
    // and clients must retry; throttled backoff as in production (250 ms base, 4 s cap).
    const commitPolicy = { ...DEFAULT_COMMIT_POLICY, maxDurationMs: 3_000 };
    // Started together, as a fleet starts: db.json, the probe and the shard's first manifest race
    // too, and an instance whose start failed on a throttled write starts again (as node.ts does).
    const starts = { retried: 0 };
    const instances = await Promise.all(
      Array.from({ length: INSTANCES }, (_, i) =>
        openLikeNode(() => openInstance(store, 'limited', { seed: i + 1, shards: 1, buckets: 1, commitPolicy }), starts),
      ),
    );

    const retries = { count: 0, codes: [] as string[] };
    const answers = await Promise.all(
      Array.from({ length: clientsTotal }, async (_, client) => {
        const inst = instances[client % INSTANCES]!;
        const mine: Answer[] = [];
        for (let b = 0; b < BATCHES_PER_CLIENT; b++) mine.push(await ingestUntilOk(inst, batchOf(client, b), retries));
        return mine;
      }),
    );

    // Every request 200, every event of it classified (a retry of a batch whose first attempt
    // landed answers those events as duplicates: that is the idempotence clients rely on).
    for (const a of answers.flat()) {
      expect(a.status).toBe(200);
      expect(a.body.accepted + a.body.duplicates).toBe(PER_BATCH + SHARED);
      expect(a.body).toMatchObject({ conflicts: 0, rejected: 0 });
    }

    // Stored: every distinct event exactly once.
    const truth = new Map<string, Sent>();
    for (let c = 0; c < clientsTotal; c++)
      for (let b = 0; b < BATCHES_PER_CLIENT; b++) for (let i = 0; i < PER_BATCH; i++) truth.set(own(c, b, i).event_id, own(c, b, i));
    const stored = await storedEvents(instances[0]!.db);
    const ids = stored.map((e) => e.event_id);
    expect(new Set(ids).size, 'no event stored twice').toBe(ids.length);
    expect(ids.length, 'no event lost').toBe(truth.size);
    expect(new Set(ids)).toEqual(new Set(truth.keys()));
    // Accepted across all final answers never exceeds the distinct events (nothing counted twice).
    expect(answers.flat().reduce((s, a) => s + a.body.accepted, 0)).toBeLessThanOrEqual(truth.size);

    // Exact totals per account, asked of every instance.
    const perAccount = new Map<string, bigint>();
    for (const e of truth.values()) perAccount.set(e.account_id, (perAccount.get(e.account_id) ?? 0n) + BigInt(e.quantity));
    for (const inst of instances) {
      for (const [account, total] of perAccount) {
        const res = await inst.app.request(`/v1/accounts/${account}/usage?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z`);
        expect(res.status).toBe(200);
        const body = (await res.json()) as { lines: { quantity: string }[] };
        expect(
          body.lines.reduce((s, l) => s + BigInt(l.quantity), 0n),
          account,
        ).toBe(total);
      }
    }

    // The limit did bite: manifest writes were refused and waited out.
    expect(store.keyWriteLimit.stats.throttled).toBeGreaterThan(0);
    console.log(
      `[key-write-limit ingest] ${clientsTotal * BATCHES_PER_CLIENT} requests, ${store.keyWriteLimit.stats.admitted} limited writes admitted, ${store.keyWriteLimit.stats.throttled} throttled, ${retries.count} client retries after 503 (${[...new Set(retries.codes)].join(', ') || 'none'}), ${starts.retried} instance starts retried`,
    );
    for (const inst of instances) await inst.ingestor.idle();
  }, 180_000);
});
