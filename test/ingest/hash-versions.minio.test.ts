/**
 * Hashes block versions 2 and 3 together on MinIO: the shared cases (in-process instances), and a
 * fresh server process (`node src/runtime/node.ts`, what users run) that cold-loads a mix of v2
 * and v3 segments — exact and filtered — and answers every retry over HTTP exactly.
 */
import { describe, expect, it } from 'vitest';
import { freePort, startServer, stop, waitForHttp } from '../support/processes.ts';
import { s3Env, testS3Store, uniquePrefix } from '../support/s3.ts';
import { describeHashVersions, ev, mixedDatabase, sampleOfEachKind } from './hash-versions-cases.ts';

describeHashVersions('s3 (MinIO)', async () => ({ store: testS3Store(), prefix: uniquePrefix('hash-versions') }));

const KEY = 'hash-versions-key-0123456789';

describe('a fresh server process on MinIO', () => {
  it('cold-loads v2 and v3 segments (exact and filtered) and answers each retry exactly', async () => {
    const prefix = uniquePrefix('hash-versions-process');
    const m = await mixedDatabase(testS3Store(), prefix);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const proc = startServer(port, { ...s3Env(prefix), USAGEDB_SHARDS: '4', USAGEDB_BUCKETS: '16', USAGEDB_API_KEYS: `tester:${KEY}:admin` });
    try {
      await waitForHttp(`${url}/health`, proc, 60_000);
      const post = async (events: unknown[]) => {
        // As a client does: a 503 (busy, retry after) is sent again; anything else is the answer.
        for (let attempt = 0; ; attempt++) {
          const res = await fetch(`${url}/v1/usage/batch`, {
            method: 'POST',
            headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
            body: JSON.stringify({ events }),
          });
          const body = await res.json();
          if (res.status === 503 && attempt < 50) {
            retried.push(JSON.stringify(body).slice(0, 200));
            await new Promise((r) => setTimeout(r, 200));
            continue;
          }
          expect(res.status, `${JSON.stringify(body)}\n${proc.output()}`).toBe(200);
          return body as { accepted: number; duplicates: number; conflicts: number; errors: { event_id: string }[] };
        }
      };
      const retried: string[] = [];
      expect(await post(m.all.map((i) => ev(i)))).toMatchObject({ accepted: 0, duplicates: 1000, conflicts: 0 });
      const changed = sampleOfEachKind(m, 3);
      const mixed = await post([...changed.map((i) => ev(i, { quantity: 5 })), ...Array.from({ length: 8 }, (_, i) => ev(7000 + i))]);
      expect(mixed).toMatchObject({ accepted: 8, duplicates: 0, conflicts: 12 });
      expect(new Set(mixed.errors.map((e) => e.event_id))).toEqual(new Set(changed.map((i) => `evt-${i}`)));
      // Only "starting: the store has not answered yet" is retried, never a dedupe answer.
      expect(retried.every((b) => b.includes('store_unavailable'))).toBe(true);
    } finally {
      await stop(proc);
    }
  });
});
