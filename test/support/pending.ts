/** Events as the ingestor hands them to a shard's submitter: validated and hashed (PendingEvent). */
import type { PendingEvent } from '../../src/ingest/shard-writer.ts';
import { validateEvent } from '../../src/model/validate.ts';
import { EventHasher, HASH_WORDS } from '../../src/segment/raw.ts';
import { usage } from './fixtures.ts';

/** `events` (wire form) validated at `nowMs` and hashed into one shared array; throws on a bad one. */
export function pendingOf(events: readonly Record<string, unknown>[], nowMs = 1_767_300_000_000): PendingEvent[] {
  const hashes = new Uint32Array(events.length * HASH_WORDS);
  const h = new EventHasher();
  return events.map((raw, i) => {
    const v = validateEvent(raw, nowMs);
    if (!v.ok) throw new Error(v.reason);
    h.hashInto(v.event, hashes, i * HASH_WORDS);
    return { event: v.event, hashes, at: i * HASH_WORDS };
  });
}

/** `n` distinct Usage events (fixtures' `usage(1..n)`), pending. */
export function pendingEvents(n: number): PendingEvent[] {
  return pendingOf(Array.from({ length: n }, (_, i) => usage(i + 1)));
}
