/**
 * The isolate's side of the shard sequencers, against a stand-in for the Durable Object that runs
 * a real shard writer on its own Database handle (what ShardSequencer does in workerd; the real
 * object is tested in worker-sequencer.minio.test.ts). Users rely on: exact outcomes through the
 * sequencer, jobs' edits committed there and learned by the isolate, a sequencer that does not
 * answer is a 503 commit_outcome_unknown (retry is safe), and its errors keep their code.
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/api/observability.ts';
import { errorToWire, ManifestContentionError } from '../../src/errors.ts';
import type { PendingEvent } from '../../src/ingest/shard-writer.ts';
import { loadConfig } from '../../src/runtime/config.ts';
import { sequencerName, sequencersOf, type SequencerNamespace, type SequencerRpc } from '../../src/runtime/sequencer-client.ts';
import { buildServices, type Services } from '../../src/runtime/services.ts';
import { HASH_WORDS } from '../../src/segment/raw.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import type { ObjectStore } from '../../src/store/types.ts';
import { seededRandom } from '../../src/model/deps.ts';
import { postBatch, TestClock, usage } from '../support/instance.ts';

let seed = 0;
async function services(store: ObjectStore, extra: { sequencers?: ReturnType<typeof sequencersOf> } = {}): Promise<Services> {
  const config = loadConfig({ USAGEDB_STORE: 'memory', USAGEDB_PREFIX: 'seq', USAGEDB_SHARDS: '2', USAGEDB_BUCKETS: '8' });
  return buildServices({ config, store, deps: { clock: new TestClock(), random: seededRandom(++seed) }, logger: silentLogger, loopbackOnly: true, ...extra });
}

/** A stand-in Durable Object namespace: one object per name, each a writer on its own handle. */
function namespace(store: ObjectStore, faults: { unreachable?: boolean; answerError?: unknown } = {}): SequencerNamespace & { calls: string[] } {
  const objects = new Map<string, Promise<Services>>();
  const calls: string[] = [];
  const objectOf = (name: string): Promise<Services> => {
    let o = objects.get(name);
    if (o === undefined) objects.set(name, (o = services(store)));
    return o;
  };
  return {
    calls,
    idFromName: (name: string) => name,
    get: (id: never): SequencerRpc => {
      const name = id as unknown as string;
      return {
        async submit(shard, events, hashes) {
          calls.push(`${name} submit ${events.length}`);
          if (faults.unreachable === true) throw new Error('Durable Object reset because its code was updated.');
          if (faults.answerError !== undefined) return { ok: false, error: errorToWire(faults.answerError) };
          const s = await objectOf(name);
          const pending: PendingEvent[] = events.map((event, i) => ({ event, hashes, at: i * HASH_WORDS }));
          return { ok: true, value: await s.ingestor.writer(shard).submit(pending, () => undefined) };
        },
        async commitEdits(shard, edits) {
          calls.push(`${name} edits ${edits.map((e) => e.op).join(',')}`);
          const s = await objectOf(name);
          const res = await s.ingestor.writer(shard).commitEdits(edits);
          return {
            ok: true,
            value: { committed: res.committed, attempts: res.attempts, results: res.results, manifest: res.state.manifest, etag: res.state.etag },
          };
        },
      };
    },
  };
}

describe('shard sequencer client', () => {
  it("ingest goes to each shard's object with exact outcomes; job edits go there too and the isolate learns them", async () => {
    const store = new MemoryStore();
    const ns = namespace(store);
    const isolate = await services(store, { sequencers: sequencersOf(ns, 'seq') });
    const events = Array.from({ length: 40 }, (_, i) => usage(i, { account_id: `acct-${i % 7}` }));
    const first = await postBatch(isolate.app, events);
    expect(first.body).toMatchObject({ accepted: 40, duplicates: 0, rejected: 0 });
    const again = await postBatch(isolate.app, [...events.slice(0, 5), usage(100)]);
    expect(again.body).toMatchObject({ accepted: 1, duplicates: 5 });
    expect(new Set(ns.calls.map((c) => c.split(' ')[0]))).toEqual(new Set([sequencerName('seq', 0), sequencerName('seq', 1)]));
    // The isolate wrote nothing itself.
    expect(isolate.ingestor.writer(0).stats.commits + isolate.ingestor.writer(1).stats.commits).toBe(0);

    const res = await isolate.db.shards[0]!.commit({ op: 'setWatermark', name: 'rollup', at_ms: 42 });
    expect(res.result?.status).toBe('applied');
    expect(ns.calls.at(-1)).toBe(`${sequencerName('seq', 0)} edits setWatermark`);
    expect(isolate.db.shards[0]!.peek()?.manifest.watermarks.rollup).toBe(42);
    const usageNow = await isolate.app.request('/v1/accounts/acct-3/usage?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z');
    expect(usageNow.status).toBe(200);
  });

  it('a sequencer that does not answer is 503 commit_outcome_unknown; the retry through a working one is exact', async () => {
    const store = new MemoryStore();
    const down = await services(store, { sequencers: sequencersOf(namespace(store, { unreachable: true }), 'seq') });
    const events = Array.from({ length: 10 }, (_, i) => usage(i));
    const res = await postBatch(down.app, events);
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('commit_outcome_unknown');
    const up = await services(store, { sequencers: sequencersOf(namespace(store), 'seq') });
    expect((await postBatch(up.app, events)).body).toMatchObject({ accepted: 10, duplicates: 0 });
  });

  it("a sequencer's error keeps its code and kind (contention: 503 manifest_contention)", async () => {
    const store = new MemoryStore();
    const busy = await services(store, {
      sequencers: sequencersOf(namespace(store, { answerError: new ManifestContentionError('lost 8 races', { retryAfterSeconds: 1 }) }), 'seq'),
    });
    const res = await postBatch(busy.app, [usage(1)]);
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('manifest_contention');
  });
  it('an isolate whose probe found a store that ignores conditional writes forwards nothing: ingest and job edits are refused with store_unsafe', async () => {
    const good = new MemoryStore();
    await services(good);
    // The same objects behind a store that ignores preconditions (a misconfigured proxy, say).
    const bad = new MemoryStore({ enforcePreconditions: false });
    for (const k of good.keys()) {
      const r = await good.get(k);
      if (r !== null && !r.notModified) await bad.put(k, r.body);
    }
    const ns = namespace(bad);
    const isolate = await services(bad, { sequencers: sequencersOf(ns, 'seq') });
    expect(isolate.db.probe.ok).toBe(false);
    const res = await postBatch(isolate.app, [usage(1), usage(2)]);
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({ error: { code: 'store_unsafe' } });
    await expect(isolate.db.shards[0]!.commit({ op: 'setWatermark', name: 'rollup', at_ms: 42 })).rejects.toMatchObject({ code: 'store_unsafe' });
    expect(ns.calls).toEqual([]);
  });
});
