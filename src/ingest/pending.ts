/** One validated event on its way into a segment, with the hashes ingest computed for it once. */
import type { UsageEvent } from '../model/event.ts';
import { HASH_WORDS } from '../segment/raw.ts';

export interface PendingEvent {
  readonly event: UsageEvent;
  /**
   * Words [at, at + 4) are the event key of (account_id, event_id), [at + 4, at + 8) the payload
   * hash, [at + 8] the id hash (HASH_WORDS, see segment/hashes.ts); the array is shared by the
   * events of one request.
   */
  readonly hashes: Uint32Array;
  readonly at: number;
}

export function samePayload(a: PendingEvent, b: PendingEvent): boolean {
  const x = a.hashes,
    i = a.at + 4;
  const y = b.hashes,
    j = b.at + 4;
  return x[i] === y[j] && x[i + 1] === y[j + 1] && x[i + 2] === y[j + 2] && x[i + 3] === y[j + 3];
}

/** The HASH_WORDS hash words of each event, contiguous, in order (what the segment encoder takes). */
export function hashWords(events: readonly PendingEvent[]): Uint32Array {
  const out = new Uint32Array(events.length * HASH_WORDS);
  for (let i = 0; i < events.length; i++) {
    const p = events[i]!;
    const h = p.hashes;
    for (let w = 0, from = p.at, to = i * HASH_WORDS; w < HASH_WORDS; w++) out[to + w] = h[from + w]!;
  }
  return out;
}
