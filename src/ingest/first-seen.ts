/**
 * Duplicates and conflicts inside one group of pending events (one request, or several sharing a
 * group commit): the claimed event of each idempotency key (account_id, event_id), found by its
 * 128-bit event key in a small open-addressing table (no string-keyed Map on the hot path); ids
 * and accounts are compared on a key match. Only events that will be committed claim their key:
 * a rejected event must not make a later one with the same id a conflict.
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

  /** The index of the event that claimed events[i]'s key, else -1. */
  claimedBy(i: number): number {
    return this.slots[this.slotOf(i)]!;
  }

  /** Records events[i] as the one holding its key (it will be committed). */
  claim(i: number): void {
    this.slots[this.slotOf(i)] = i;
  }

  /** The slot holding events[i]'s key, or the empty slot where it would go. */
  private slotOf(i: number): number {
    const p = this.events[i]!;
    const h = p.hashes;
    const at = p.at;
    let s = h[at]! & this.mask;
    for (;;) {
      const j = this.slots[s]!;
      if (j < 0) return s;
      const q = this.events[j]!;
      const g = q.hashes;
      const b = q.at;
      if (
        g[b] === h[at] &&
        g[b + 1] === h[at + 1] &&
        g[b + 2] === h[at + 2] &&
        g[b + 3] === h[at + 3] &&
        q.event.event_id === p.event.event_id &&
        q.event.account_id === p.event.account_id
      ) {
        return s;
      }
      s = (s + 1) & this.mask;
    }
  }
}
