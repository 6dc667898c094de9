/**
 * Several Node server processes on one MinIO bucket with peering on (USAGEDB_PEER_URL, issue 14):
 * real `node src/runtime/node.ts` processes, driven over HTTP like clients do — round-robin,
 * concurrent, re-sending batches (duplicates), and retrying every 503 and every broken
 * connection on the next server. Checks what billing relies on: every distinct event counted
 * exactly once (query totals equal the truth), one process committing the shard while all are up,
 * and, after the holder is SIGKILLed mid-traffic, the survivors taking over with nothing lost and
 * nothing counted twice.
 */
import { describe, expect, it } from 'vitest';
import { usage } from '../support/fixtures.ts';
import { freePort, startServer, stop, waitForHttp, type Started } from '../support/processes.ts';
import { s3Env, testS3Store, uniquePrefix } from '../support/s3.ts';

const KEY = 'peers-test-key-0123456789';
const TOKEN = 'peers-test-token-0123456789-0123456789';
const HEADERS = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Server {
  readonly url: string;
  readonly proc: Started;
}

async function startCluster(n: number, prefix: string, leaseMs: number): Promise<Server[]> {
  const ports = await Promise.all(Array.from({ length: n }, () => freePort()));
  const servers = ports.map((port) => {
    const url = `http://127.0.0.1:${port}`;
    const proc = startServer(port, {
      ...s3Env(prefix),
      USAGEDB_SHARDS: '1',
      USAGEDB_API_KEYS: `tester:${KEY}:admin`,
      USAGEDB_PEER_URL: url,
      USAGEDB_PEER_TOKEN: TOKEN,
      USAGEDB_LEASE_MS: String(leaseMs),
      USAGEDB_PEER_TIMEOUT_MS: '10000',
    });
    return { url, proc };
  });
  // One after the other: the first creates the database, the others open it.
  for (const s of servers) await waitForHttp(`${s.url}/health`, s.proc, 60_000);
  for (const s of servers) {
    for (let i = 0; i < 100 && (await fetch(`${s.url}/health`)).status !== 200; i++) await sleep(100);
  }
  return servers;
}

/** What a client saw while getting one batch answered. */
interface Sent {
  accepted: number;
  duplicates: number;
  /** 503 answers by error code, and connections that failed. */
  retried: Record<string, number>;
}

/**
 * Sends one batch until a server answers 200, starting at servers[first] and moving to the next
 * server after a 503 (after its Retry-After) or a failed connection, as a client of a pool does.
 */
async function sendUntilAnswered(servers: readonly Server[], first: number, events: unknown[]): Promise<Sent> {
  const retried: Record<string, number> = {};
  for (let attempt = 0; attempt < 300; attempt++) {
    const s = servers[(first + attempt) % servers.length]!;
    let res: Response;
    try {
      res = await fetch(`${s.url}/v1/usage/batch`, { method: 'POST', headers: HEADERS, body: JSON.stringify({ events }), signal: AbortSignal.timeout(30_000) });
    } catch {
      retried.connection = (retried.connection ?? 0) + 1;
      await sleep(20);
      continue;
    }
    const body = (await res.json()) as { accepted: number; duplicates: number; conflicts: number; rejected: number; error?: { code: string } };
    if (res.status === 200) {
      expect(body.conflicts + body.rejected).toBe(0);
      return { accepted: body.accepted, duplicates: body.duplicates, retried };
    }
    if (res.status !== 503) throw new Error(`unexpected ${res.status}: ${JSON.stringify(body)}`);
    const code = body.error?.code ?? 'unknown';
    retried[code] = (retried[code] ?? 0) + 1;
    await sleep(Math.min(1000, Number(res.headers.get('retry-after') ?? '1') * 1000));
  }
  throw new Error('a batch was never answered');
}

/** The whole database in one query: count and sum of every stored event. */
async function totals(url: string): Promise<{ count: number; sum: bigint }> {
  const res = await fetch(`${url}/v1/query/json`, {
    method: 'POST',
    headers: HEADERS,
    body: JSON.stringify({ from: '2025-12-01T00:00:00Z', to: '2026-03-01T00:00:00Z', metrics: ['sum', 'count'] }),
  });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  const lines = (JSON.parse(text) as { lines: { quantity: string; count: number }[] }).lines;
  return { count: lines.reduce((n, l) => n + l.count, 0), sum: lines.reduce((n, l) => n + BigInt(l.quantity), 0n) };
}

async function counters(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`, { headers: HEADERS })).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(usagedb_(?:peer|shard_lease|manifest)_[a-z_]+)(?:\{[^}]*\})? ([0-9.e+]+)$/.exec(line);
    if (m !== null) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  }
  return out;
}

async function lease(prefix: string): Promise<{ holder_url: string; expires_at_ms: number } | undefined> {
  const res = await testS3Store().get(`${prefix}/shards/00/lease.json`);
  if (res === null || res.notModified) return undefined;
  return JSON.parse(new TextDecoder().decode(res.body)) as { holder_url: string; expires_at_ms: number };
}

async function leaseHolder(prefix: string): Promise<string | undefined> {
  return (await lease(prefix))?.holder_url;
}

/** Batches of `size` events from `from`; every third batch also re-sends 10 events of the one before (a client's retry). */
function batches(count: number, size: number, from: number): { events: Record<string, unknown>[]; fresh: number[] }[] {
  const out: { events: Record<string, unknown>[]; fresh: number[] }[] = [];
  for (let b = 0; b < count; b++) {
    const fresh = Array.from({ length: size }, (_, j) => from + b * size + j);
    const again = b % 3 === 2 ? Array.from({ length: 10 }, (_, j) => from + (b - 1) * size + j) : [];
    out.push({ events: [...fresh, ...again].map((i) => usage(i)), fresh });
  }
  return out;
}

const truthOf = (ids: Iterable<number>) => {
  let count = 0;
  let sum = 0n;
  for (const i of ids) {
    count++;
    sum += BigInt(100 + i);
  }
  return { count, sum };
};

/** 8 clients, each taking the next batch and sending it until answered, round-robin over the servers. */
async function drive(servers: readonly Server[], work: { events: unknown[] }[], onBatch?: (done: number) => void): Promise<Sent[]> {
  const results: Sent[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (;;) {
        const i = next++;
        if (i >= work.length) return;
        results.push(await sendUntilAnswered(servers, i, work[i]!.events));
        onBatch?.(results.length);
      }
    }),
  );
  return results;
}

describe('several Node processes on one bucket, peering', () => {
  it('3 processes, concurrent round-robin ingest with re-sent events: every event counted once, one process commits; SIGTERM releases the lease', async () => {
    const prefix = uniquePrefix('peers');
    const servers = await startCluster(3, prefix, 10_000);
    try {
      const work = batches(60, 50, 0);
      const first = await drive(servers, work);
      // The same batches again, concurrently: all duplicates now.
      const again = await drive(servers, work.slice(0, 15));
      const truth = truthOf(new Set(work.flatMap((w) => w.fresh)));
      expect(first.reduce((n, r) => n + r.accepted, 0)).toBe(truth.count);
      expect(again.reduce((n, r) => n + r.accepted, 0)).toBe(0);
      expect(again.reduce((n, r) => n + r.duplicates, 0)).toBe(work.slice(0, 15).reduce((n, w) => n + w.events.length, 0));
      expect([...first, ...again].every((r) => Object.keys(r.retried).length === 0)).toBe(true); // no 503 at all
      for (const s of servers) expect(await totals(s.url)).toEqual(truth);

      const holder = await leaseHolder(prefix);
      const all = await Promise.all(servers.map((s) => counters(s.url)));
      const committers = servers.filter((_, i) => (all[i]!.usagedb_manifest_commits_total ?? 0) > 0).map((s) => s.url);
      expect(committers).toEqual([holder]);
      expect(all.reduce((n, c) => n + (c.usagedb_manifest_commit_retries_total ?? 0), 0)).toBe(0);
      const sum = (name: string) => all.reduce((n, c) => n + (c[name] ?? 0), 0);
      expect(sum('usagedb_peer_forwarded_events_total')).toBe(sum('usagedb_peer_received_events_total'));
      expect(sum('usagedb_peer_forwarded_events_total')).toBeGreaterThan(0);
      expect(sum('usagedb_peer_direct_events_total')).toBe(0);
      expect(sum('usagedb_shard_lease_acquisitions_total')).toBe(1);

      // SIGTERM: the holder writes its lease expired before it exits, so a peer takes it at once.
      const holderServer = servers.find((s) => s.url === holder)!;
      await stop(holderServer.proc);
      expect((await holderServer.proc.exited).code).toBe(0);
      expect(await lease(prefix)).toMatchObject({ holder_url: holder, expires_at_ms: 0 });
      const rest = servers.filter((s) => s !== holderServer);
      // The others still follow the old holder: refused, they commit directly for a second, then
      // read the lease again and find it free (long before the 10 s it would take to expire).
      const more = batches(4, 20, 50_000);
      await drive(rest, more.slice(0, 2));
      await sleep(1200);
      await drive(rest, more.slice(2));
      expect(rest.map((s) => s.url)).toContain(await leaseHolder(prefix));
      const truthAfter = truthOf(new Set([...work, ...more].flatMap((w) => w.fresh)));
      for (const s of rest) expect(await totals(s.url)).toEqual(truthAfter);
    } finally {
      await Promise.all(servers.map((s) => stop(s.proc)));
    }
  }, 120_000);

  it('the holder SIGKILLed mid-traffic: clients retry 503s and broken connections, survivors take over, totals exact', async () => {
    const prefix = uniquePrefix('peers-kill');
    const leaseMs = 2000;
    const servers = await startCluster(3, prefix, leaseMs);
    try {
      // Warm up: the lease is taken, everyone knows the holder.
      const warm = batches(6, 20, 0);
      await drive(servers, warm);
      const holderUrl = await leaseHolder(prefix);
      const holder = servers.find((s) => s.url === holderUrl)!;
      expect(holder).toBeDefined();
      const survivors = servers.filter((s) => s !== holder);

      const work = batches(120, 40, 1_000);
      let killed = false;
      const results = await drive(servers, work, (done) => {
        if (!killed && done >= 20) {
          killed = true;
          holder.proc.child.kill('SIGKILL');
        }
      });
      expect(killed).toBe(true);
      await holder.proc.exited;
      const retried = (code: string) => results.reduce((n, r) => n + (r.retried[code] ?? 0), 0);
      // Requests in flight at the holder broke, and forwarded ones had unknown outcomes: retried.
      expect(retried('connection') + retried('commit_outcome_unknown')).toBeGreaterThan(0);
      expect(retried('manifest_contention')).toBe(0);

      // After the dead holder's lease expired, a survivor holds it and commits for both.
      await sleep(leaseMs + 200);
      const late = batches(8, 20, 100_000);
      await drive(survivors, late);
      const newHolder = await leaseHolder(prefix);
      expect(survivors.map((s) => s.url)).toContain(newHolder);

      const truth = truthOf(new Set([...warm, ...work, ...late].flatMap((w) => w.fresh)));
      for (const s of survivors) expect(await totals(s.url)).toEqual(truth);
      const after = await Promise.all(survivors.map((s) => counters(s.url)));
      const sum = (name: string) => after.reduce((n, c) => n + (c[name] ?? 0), 0);
      expect(sum('usagedb_peer_direct_fallbacks_total')).toBeGreaterThan(0);
      expect(sum('usagedb_shard_lease_acquisitions_total')).toBeGreaterThanOrEqual(1);
    } finally {
      await Promise.all(servers.map((s) => stop(s.proc)));
    }
  }, 120_000);
});
