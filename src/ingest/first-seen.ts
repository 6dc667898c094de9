/**
 * Duplicates and conflicts inside one group of pending events (one request, or several sharing a
 * group commit): the first event with each event id, found by its 128-bit event hash in a small
 * open-addressing table (no string-keyed Map on the hot path); ids are compared on a hash match.
 */
import type { PendingEvent } from './pending.ts';

export class FirstSeen {
  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly events: readonly PendingEvent[];

  constructor(events: readonly PendingEvent[]) {
    let cap = 16;
    while (cap < events.length * 2) cap *= 2;
    this.slots = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
    this.events = events;
  }

  /** The index of an earlier event with the same id as events[i], else -1 (and records i). */
  firstOf(i: number): number {
    const p = this.events[i]!;
    const h = p.hashes;
    const at = p.at;
    let s = h[at]! & this.mask;
    for (;;) {
      const j = this.slots[s]!;
      if (j < 0) {
        this.slots[s] = i;
        return -1;
      }
      const q = this.events[j]!;
      const g = q.hashes;
      const b = q.at;
      if (g[b] === h[at] && g[b + 1] === h[at + 1] && g[b + 2] === h[at + 2] && g[b + 3] === h[at + 3] && q.event.event_id === p.event.event_id) return j;
      s = (s + 1) & this.mask;
    }
  }
}
