/**
 * The simulated R2 per-key write limit (src/store/key-write-limit.ts) on its own: which writes it
 * refuses, how, and what it lets through; and the startup probe on a limited store.
 */
import { describe, expect, it } from 'vitest';
import { AmbiguousWriteError, PreconditionFailedError } from '../../src/store/errors.ts';
import { keyGlob, withKeyWriteLimit } from '../../src/store/key-write-limit.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { probeConditionalWrites } from '../../src/store/probe.ts';
import { getBytes, type ObjectStore } from '../../src/store/types.ts';

const enc = new TextEncoder();
const text = async (s: ObjectStore, k: string) => new TextDecoder().decode((await getBytes(s, k))!.body);

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t, advance: (ms: number) => (c.t += ms) };
  return c;
}

describe('withKeyWriteLimit', () => {
  it('refuses a second write of one key within the interval like R2 (429, throttled, nothing written)', async () => {
    const c = clock();
    const inner = new MemoryStore();
    const store = withKeyWriteLimit(inner, { intervalMs: 1000, now: c.now });
    const v1 = await store.put('k', enc.encode('one'));
    c.advance(999);
    const err = await store.put('k', enc.encode('two'), { ifMatch: v1.etag }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AmbiguousWriteError);
    expect((err as AmbiguousWriteError).throttled).toBe(true);
    expect((err as Error).message).toMatch(/429 .*simulated R2 per-key write limit.*nothing was written/);
    expect(await text(inner, 'k')).toBe('one');
    expect(store.keyWriteLimit.stats).toEqual({ admitted: 1, throttled: 1 });
  });

  it('lets the same key through once the interval has passed since the last write that landed', async () => {
    const c = clock();
    const store = withKeyWriteLimit(new MemoryStore(), { intervalMs: 1000, now: c.now });
    const v1 = await store.put('k', enc.encode('one'));
    c.advance(500);
    await expect(store.put('k', enc.encode('x'), { ifMatch: v1.etag })).rejects.toBeInstanceOf(AmbiguousWriteError);
    // A refused write does not restart the interval: 1000 ms after the first write, not after the refusal.
    c.advance(500);
    const v2 = await store.put('k', enc.encode('two'), { ifMatch: v1.etag });
    expect(await text(store, 'k')).toBe('two');
    c.advance(1000);
    await store.put('k', enc.encode('three'), { ifMatch: v2.etag });
    expect(await text(store, 'k')).toBe('three');
  });

  it('never limits other keys, reads, lists or deletes', async () => {
    const c = clock();
    const store = withKeyWriteLimit(new MemoryStore(), { intervalMs: 1000, now: c.now });
    await store.put('a', enc.encode('a'));
    for (let i = 0; i < 20; i++) await store.put(`seg-${i}`, enc.encode('s'), { ifNoneMatch: '*' });
    expect(await text(store, 'a')).toBe('a');
    expect(await store.head('a')).not.toBeNull();
    expect((await store.list('seg-')).items).toHaveLength(20);
    await store.delete('a');
    expect(await store.head('a')).toBeNull();
    expect(store.keyWriteLimit.stats).toEqual({ admitted: 21, throttled: 0 });
  });

  it('refuses a write of a key while another write of it is in flight (concurrent writes to one object)', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const inner = new MemoryStore();
    const slow: ObjectStore = {
      kind: 'slow',
      get: inner.get.bind(inner),
      head: inner.head.bind(inner),
      delete: inner.delete.bind(inner),
      list: inner.list.bind(inner),
      put: async (k, b, o) => {
        await gate;
        return inner.put(k, b, o);
      },
    };
    const store = withKeyWriteLimit(slow, { intervalMs: 1 });
    const first = store.put('k', enc.encode('first'));
    await expect(store.put('k', enc.encode('second'))).rejects.toBeInstanceOf(AmbiguousWriteError);
    release();
    await first;
    expect(await text(inner, 'k')).toBe('first');
  });

  it('a write refused by its precondition changed nothing and does not count; one that landed does', async () => {
    const c = clock();
    const store = withKeyWriteLimit(new MemoryStore(), { intervalMs: 1000, now: c.now });
    await expect(store.put('k', enc.encode('x'), { ifMatch: 'nope' })).rejects.toBeInstanceOf(Error);
    const v1 = await store.put('k', enc.encode('one'), { ifNoneMatch: '*' });
    c.advance(1000);
    await expect(store.put('k', enc.encode('two'), { ifMatch: 'stale' })).rejects.toBeInstanceOf(PreconditionFailedError);
    await store.put('k', enc.encode('two'), { ifMatch: v1.etag });
    expect(await text(store, 'k')).toBe('two');
  });

  it('limits only the keys its patterns name (e.g. the manifests)', async () => {
    const c = clock();
    const store = withKeyWriteLimit(new MemoryStore(), { intervalMs: 1000, now: c.now, keys: ['*manifest/current.json'] });
    const m = 'usagedb/shards/03/manifest/current.json';
    const v1 = await store.put(m, enc.encode('g1'));
    await expect(store.put(m, enc.encode('g2'), { ifMatch: v1.etag })).rejects.toBeInstanceOf(AmbiguousWriteError);
    await store.put('usagedb/_scratch/probe-1', enc.encode('a'));
    await store.put('usagedb/_scratch/probe-1', enc.encode('b'));
    await store.put('usagedb/shards/03/manifest/current.json.bak', enc.encode('b'));
    await store.put('usagedb/shards/03/manifest/current.json.bak', enc.encode('c'));
    expect(store.keyWriteLimit.stats.throttled).toBe(1);
  });

  it('patterns: * matches any characters, slashes included; everything else is literal', () => {
    expect(keyGlob('usagedb/shards/*/manifest/current.json').test('usagedb/shards/07/manifest/current.json')).toBe(true);
    expect(keyGlob('*/current.json').test('a/b/current.json')).toBe(true);
    expect(keyGlob('*/current.json').test('a/b/currentxjson')).toBe(false);
    expect(keyGlob('usagedb/*').test('other/usagedb/x')).toBe(false);
    expect(keyGlob('a+b(c)').test('a+b(c)')).toBe(true);
  });

  it('refuses a nonsensical interval', () => {
    expect(() => withKeyWriteLimit(new MemoryStore(), { intervalMs: 0 })).toThrow(/positive/);
  });

  it('the startup probe still passes on a limited store: it waits out the throttled answers', async () => {
    const store = withKeyWriteLimit(new MemoryStore(), { intervalMs: 300 });
    const report = await probeConditionalWrites(store, '_scratch', 'limited');
    expect(report).toEqual({ ok: true, problems: [] });
    expect(store.keyWriteLimit.stats.throttled).toBeGreaterThan(0);
  });

  it('the probe still refuses a limited store that ignores preconditions', async () => {
    const store = withKeyWriteLimit(new MemoryStore({ enforcePreconditions: false }), { intervalMs: 100 });
    const report = await probeConditionalWrites(store, '_scratch', 'broken');
    expect(report.ok).toBe(false);
    expect(report.problems.join('\n')).toMatch(/If-None-Match: \* on an existing key succeeded/);
  });
});
