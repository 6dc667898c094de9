/**
 * A lease holder whose host stopped answering (a blackholed address, not a refused port): Node
 * processes forward with peer-fetch.ts, whose connect timeout fails the call before anything was
 * sent, so the events are committed locally at once instead of after Node fetch's 10 s connect
 * timeout — and the shard stays direct until that holder's lease runs out.
 *
 * The blackhole: a listener with a backlog of 1 in a stopped (SIGSTOP) child process. The kernel
 * completes two handshakes for it, then leaves further SYNs unanswered, like a vanished host.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShardLeases, type LeaseBody } from '../../src/ingest/shard-lease.ts';
import type { Outcome, PendingEvent } from '../../src/ingest/shard-writer.ts';
import { nodePeerFetch } from '../../src/runtime/peer-fetch.ts';
import { notConnected, PeerForwarder } from '../../src/runtime/peer-forwarder.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { pendingEvents } from '../support/pending.ts';

let child: ChildProcess;
let port: number;
const held: Socket[] = [];

beforeAll(async () => {
  child = spawn(
    process.execPath,
    [
      '-e',
      "const s = require('node:net').createServer(); s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => { console.log(s.address().port); process.kill(process.pid, 'SIGSTOP'); });",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  port = await new Promise<number>((resolve) => child.stdout!.once('data', (d) => resolve(Number(String(d).trim()))));
  // Fill its accept queue: connections past these get no answer at all.
  for (let i = 0; i < 3; i++) {
    const s = connect(port, '127.0.0.1');
    held.push(s);
    await new Promise<void>((resolve) => {
      s.once('connect', () => resolve());
      s.once('error', () => resolve());
      setTimeout(resolve, 300);
    });
  }
});

afterAll(() => {
  for (const s of held) s.destroy();
  child?.kill('SIGKILL');
});

describe('forwarding to a holder that does not answer', () => {
  it('fails as "not connected" within the connect timeout', async () => {
    const started = performance.now();
    const err = await nodePeerFetch(300)(`http://127.0.0.1:${port}/internal/v1/shards/0/submit`, {
      method: 'POST',
      headers: {},
      body: '{}',
      signal: AbortSignal.timeout(30_000),
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(notConnected(err)).toBe(true);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('a refused port fails as "not connected"; a holder that answers is read whatever its status', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const init = { method: 'POST' as const, headers: { 'content-type': 'application/json' }, body: '{"v":1}', signal: AbortSignal.timeout(30_000) };
    const refused = await nodePeerFetch(300)(`http://127.0.0.1:${closed}/internal/v1/shards/0/submit`, init).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(notConnected(refused)).toBe(true);
    const seen: string[] = [];
    const holder = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} ${req.headers['content-type']} ${body}`);
        res.writeHead(seen.length === 1 ? 200 : 401).end(seen.length === 1 ? '{"ok":true,"value":[]}' : 'no');
      });
    });
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(holder.address() as AddressInfo).port}/internal/v1/shards/0/submit`;
      const fetchPeer = nodePeerFetch(300);
      const ok = await fetchPeer(url, init);
      expect([ok.status, await ok.text()]).toEqual([200, '{"ok":true,"value":[]}']);
      const denied = await fetchPeer(url, init);
      expect([denied.status, await denied.text()]).toEqual([401, 'no']);
      expect(seen).toEqual(Array(2).fill('POST /internal/v1/shards/0/submit application/json {"v":1}'));
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it('commits locally at once, and keeps committing locally without calling it until its lease expires', async () => {
    const store = new MemoryStore();
    const now = Date.now();
    const lease: LeaseBody = { format: 1, holder_url: `http://127.0.0.1:${port}`, holder_id: 'gone', expires_at_ms: now + 60_000, acquired_at_ms: now };
    await store.put('db/shards/00/lease.json', new TextEncoder().encode(JSON.stringify(lease)));
    const clock = { now: () => Date.now(), sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)) };
    const leases = new ShardLeases({ store, prefix: 'db', shardCount: 1, clock, url: 'http://127.0.0.1:1', holderId: 'me', leaseMs: 60_000 });
    const committed: number[] = [];
    let calls = 0;
    const peerFetch = nodePeerFetch(300);
    const forwarder = new PeerForwarder({
      leases,
      local: () => ({
        submit: async (events: readonly PendingEvent[]) => {
          committed.push(events.length);
          return events.map((): Outcome => 'accepted');
        },
      }),
      token: 't'.repeat(32),
      timeoutMs: 30_000,
      fetch: (url, init) => {
        calls++;
        return peerFetch(url, init);
      },
    });
    const started = performance.now();
    expect(await forwarder.submit(0, pendingEvents(3), () => undefined)).toEqual(['accepted', 'accepted', 'accepted']);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(calls).toBe(1);
    // Past the moment of direct commits, the lease (still live, not renewed) is read again: still
    // no call to that host.
    await new Promise((r) => setTimeout(r, 1_100));
    expect(await forwarder.submit(0, pendingEvents(2), () => undefined)).toEqual(['accepted', 'accepted']);
    expect(calls).toBe(1);
    expect(committed).toEqual([3, 2]);
    expect(forwarder.counters.directEvents).toBe(5);
  });
});
