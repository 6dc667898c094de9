/**
 * The startup probe: on a scratch key, a store must refuse a PUT with a stale ETag, an
 * `If-Match` on a missing key, and an `If-None-Match: *` on an existing key. A store that
 * accepts any of them would silently lose commits, so the database refuses to write on it.
 *
 * The probe writes its key four times in a row, and R2 admits about one write per second per
 * key: a throttled answer (429, nothing written) is neither a success nor a refusal, so it is
 * waited out (200 ms doubling, about 6 s in all) and the same write is sent again.
 */
import { AmbiguousWriteError, isRejectedWrite, TransientStoreError } from './errors.ts';
import type { ObjectStore } from './types.ts';

export interface ProbeReport {
  readonly ok: boolean;
  readonly problems: readonly string[];
}

const enc = new TextEncoder();

const THROTTLE_WAITS_MS = [200, 400, 800, 1600, 3200];

/** Runs one probe write, sending it again while the store answers that it throttled it. */
async function unthrottled<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      const throttled = (err instanceof AmbiguousWriteError || err instanceof TransientStoreError) && err.throttled;
      const wait = THROTTLE_WAITS_MS[attempt];
      if (!throttled || wait === undefined) throw err;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

export async function probeConditionalWrites(store: ObjectStore, scratchPrefix: string, nonce: string): Promise<ProbeReport> {
  const key = `${scratchPrefix}/probe-${nonce}`;
  const missing = `${scratchPrefix}/probe-${nonce}-missing`;
  const problems: string[] = [];
  const mustFail = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await unthrottled(fn);
      problems.push(`${what} succeeded; it must fail (the store ignores preconditions)`);
    } catch (err) {
      if (!isRejectedWrite(err)) throw err;
    }
  };
  try {
    const first = await unthrottled(() => store.put(key, enc.encode(`probe 1 ${nonce}`), { ifNoneMatch: '*' }));
    await mustFail('If-None-Match: * on an existing key', () => store.put(key, enc.encode(`probe x ${nonce}`), { ifNoneMatch: '*' }));
    const second = await unthrottled(() => store.put(key, enc.encode(`probe 2 ${nonce}`), { ifMatch: first.etag }));
    if (second.etag === first.etag) problems.push('the ETag did not change when the content did');
    await mustFail('a PUT with a stale If-Match ETag', () => store.put(key, enc.encode(`probe 3 ${nonce}`), { ifMatch: first.etag }));
    await mustFail('If-Match on a missing key', () => store.put(missing, enc.encode('never'), { ifMatch: first.etag }));
  } finally {
    await store.delete(key).catch(() => undefined);
    await store.delete(missing).catch(() => undefined);
  }
  return { ok: problems.length === 0, problems };
}
