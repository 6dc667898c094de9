import { describe, expect, it } from 'vitest';
import { StoreUnsafeError } from '../../src/errors.ts';
import { Database } from '../../src/manifest/database.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { realTimeDeps } from '../support/deps.ts';
import { addSegments } from '../support/fixtures.ts';

describe('startup probe', () => {
  it('accepts a store that honours preconditions', async () => {
    const db = await Database.open({ store: new MemoryStore(), prefix: 'db', deps: realTimeDeps() });
    expect(db.probe).toEqual({ ok: true, problems: [] });
  });

  it('refuses to create a database on a store that ignores preconditions, naming each failure', async () => {
    const store = new MemoryStore({ enforcePreconditions: false });
    const err = await Database.open({ store, prefix: 'db', deps: realTimeDeps() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnsafeError);
    const msg = (err as Error).message;
    expect(msg).toContain('If-None-Match: * on an existing key');
    expect(msg).toContain('stale If-Match');
    expect(msg).toContain('If-Match on a missing key');
    expect(store.keys().filter((k) => !k.includes('_scratch'))).toEqual([]);
  });

  it('refuses writes (but serves reads) on an existing database whose store stopped honouring preconditions', async () => {
    const good = new MemoryStore();
    const db = await Database.open({ store: good, prefix: 'db', deps: realTimeDeps() });
    await db.shards[0]!.commit(addSegments('a'));
    // Same objects, now behind a store that ignores conditions.
    const bad = new MemoryStore({ enforcePreconditions: false });
    for (const k of good.keys()) {
      const r = await good.get(k);
      if (r !== null && !r.notModified) await bad.put(k, r.body);
    }
    const db2 = await Database.open({ store: bad, prefix: 'db', deps: realTimeDeps() });
    expect(db2.probe.ok).toBe(false);
    expect((await db2.shards[0]!.load()).manifest.segments.map((s) => s.id)).toEqual(['a']);
    await expect(db2.shards[0]!.commit(addSegments('b'))).rejects.toBeInstanceOf(StoreUnsafeError);
  });
});
