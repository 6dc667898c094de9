/**
 * The startup probe: on a scratch key, a store must refuse a PUT with a stale ETag, an
 * `If-Match` on a missing key, and an `If-None-Match: *` on an existing key. A store that
 * accepts any of them would silently lose commits, so the database refuses to write on it.
 */
import { isRejectedWrite } from './errors.ts';
import type { ObjectStore } from './types.ts';

export interface ProbeReport {
  readonly ok: boolean;
  readonly problems: readonly string[];
}

const enc = new TextEncoder();

export async function probeConditionalWrites(store: ObjectStore, scratchPrefix: string, nonce: string): Promise<ProbeReport> {
  const key = `${scratchPrefix}/probe-${nonce}`;
  const missing = `${scratchPrefix}/probe-${nonce}-missing`;
  const problems: string[] = [];
  const mustFail = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
      problems.push(`${what} succeeded; it must fail (the store ignores preconditions)`);
    } catch (err) {
      if (!isRejectedWrite(err)) throw err;
    }
  };
  try {
    const first = await store.put(key, enc.encode(`probe 1 ${nonce}`), { ifNoneMatch: '*' });
    await mustFail('If-None-Match: * on an existing key', () => store.put(key, enc.encode(`probe x ${nonce}`), { ifNoneMatch: '*' }));
    const second = await store.put(key, enc.encode(`probe 2 ${nonce}`), { ifMatch: first.etag });
    if (second.etag === first.etag) problems.push('the ETag did not change when the content did');
    await mustFail('a PUT with a stale If-Match ETag', () => store.put(key, enc.encode(`probe 3 ${nonce}`), { ifMatch: first.etag }));
    await mustFail('If-Match on a missing key', () => store.put(missing, enc.encode('never'), { ifMatch: first.etag }));
  } finally {
    await store.delete(key).catch(() => undefined);
    await store.delete(missing).catch(() => undefined);
  }
  return { ok: problems.length === 0, problems };
}
