/**
 * The directory store under a crash: a real server process (`node src/runtime/node.ts`, the
 * embedded store) SIGKILLed while 8 clients ingest — commits in flight on its write thread —
 * then restarted on the same directory while the clients retry every batch not acknowledged.
 * Every event must be counted exactly once: acknowledged ones survive the kill, retried ones are
 * not doubled.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, startServer, stop, waitForHttp } from '../support/processes.ts';

const ACCOUNTS = ['acct_a', 'acct_b', 'acct_c', 'acct_d'];
const BATCHES = 160;
const BATCH = 20;
const CLIENTS = 8;
const KILL_AFTER = 50;
const T0 = Date.now() - 3_600_000;

const eventOf = (i: number) => ({
  event_id: `crash-${i}`,
  account_id: ACCOUNTS[i % ACCOUNTS.length]!,
  product_id: 'chat',
  meter_id: 'tokens.input',
  model_id: `model-${i % 7}`,
  source: 'api',
  unit: 'tokens',
  timestamp_ms: T0 + i,
  quantity: 1 + (i % 1000),
  dimensions: { region: 'eu' },
});

describe('directory store: a server killed mid-ingest', () => {
  it('loses no acknowledged event and doubles no retried one (8 clients, SIGKILL, restart, retries)', { timeout: 180_000 }, async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const dataDir = mkdtempSync(join(tmpdir(), 'usagedb-fs-crash-'));
    let server = startServer(port, { USAGEDB_DATA_DIR: dataDir });
    await waitForHttp(`${url}/health`, server);

    let next = 0;
    let acknowledged = 0;
    let failedAttempts = 0;
    let killed: Promise<void> | undefined;
    const kill = async () => {
      server.child.kill('SIGKILL');
      await server.exited;
      server = startServer(port, { USAGEDB_DATA_DIR: dataDir });
      await waitForHttp(`${url}/health`, server, 60_000);
    };
    const client = async () => {
      for (let b = next++; b < BATCHES; b = next++) {
        const events = Array.from({ length: BATCH }, (_, k) => eventOf(b * BATCH + k));
        for (;;) {
          try {
            const res = await fetch(`${url}/v1/usage/batch`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ events }),
              signal: AbortSignal.timeout(30_000),
            });
            const body = (await res.json()) as { accepted?: number; duplicates?: number; rejected?: number };
            if (res.status === 200) {
              expect(body.rejected).toBe(0);
              expect((body.accepted ?? 0) + (body.duplicates ?? 0)).toBe(BATCH);
              break;
            }
          } catch {
            // the server is down (killed, restarting): retry the same batch
          }
          failedAttempts++;
          await new Promise((r) => setTimeout(r, 50));
        }
        if (++acknowledged === KILL_AFTER) killed = kill();
      }
    };
    try {
      await Promise.all(Array.from({ length: CLIENTS }, client));
      await killed;
      expect(acknowledged).toBe(BATCHES);
      // The kill happened with requests in flight: some attempts failed and were retried.
      expect(failedAttempts).toBeGreaterThan(0);

      const from = new Date(T0 - 60_000).toISOString();
      const to = new Date(T0 + BATCHES * BATCH + 60_000).toISOString();
      for (const [a, account] of ACCOUNTS.entries()) {
        let count = 0;
        let sum = 0;
        for (let i = a; i < BATCHES * BATCH; i += ACCOUNTS.length) {
          count++;
          sum += eventOf(i).quantity;
        }
        const res = await fetch(`${url}/v1/query/json`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ source: 'raw', account_id: account, from, to, group_by: [], metrics: ['sum', 'count'] }),
        });
        expect(res.status).toBe(200);
        const body = (await res.json()) as { lines: { quantity: string; count: number }[] };
        expect(body.lines).toEqual([expect.objectContaining({ quantity: String(sum), count })]);
      }
    } finally {
      await stop(server);
    }
  });
});
