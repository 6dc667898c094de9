/** One validated event on its way into a segment, with the hashes ingest computed for it once. */
import type { UsageEvent } from '../model/event.ts';

export interface PendingEvent {
  readonly event: UsageEvent;
  /**
   * Words [at, at + 4) are the 128-bit event hash, [at + 4, at + 8) the payload hash (the
   * hashes block's layout, see segment/hashes.ts); the array is shared by the events of one request.
   */
  readonly hashes: Uint32Array;
  readonly at: number;
}

export function samePayload(a: PendingEvent, b: PendingEvent): boolean {
  const x = a.hashes, i = a.at + 4;
  const y = b.hashes, j = b.at + 4;
  return x[i] === y[j] && x[i + 1] === y[j + 1] && x[i + 2] === y[j + 2] && x[i + 3] === y[j + 3];
}

/** The 8 hash words of each event, contiguous, in order (what the segment encoder takes). */
export function hashWords(events: readonly PendingEvent[]): Uint32Array {
  const out = new Uint32Array(events.length * 8);
  for (let i = 0; i < events.length; i++) {
    const p = events[i]!;
    const h = p.hashes;
    const a = p.at;
    const o = i * 8;
    for (let k = 0; k < 8; k++) out[o + k] = h[a + k]!;
  }
  return out;
}
