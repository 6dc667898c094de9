/**
 * `ingest()`: prepared events go out batch by batch (in order, one at a time), each batch retried
 * with the same bytes until acknowledged; the answers become one report with an outcome per
 * caller position. A batch that fails for good stops the call; the error says what is left.
 */
import { batchBody, splitBatches, type BatchLimits, type PreparedEvent } from './batching.ts';
import { UsageDbError } from './errors.ts';
import { send, type CallOptions, type HttpConfig } from './http.ts';
import { batchOutcomes, type EventOutcome } from './outcomes.ts';
import { ROUTES } from './routes.ts';
import type { IngestResult } from './types.ts';

export type { EventOutcome, OutcomeStatus } from './outcomes.ts';

export interface IngestReport {
  /** Stored by this call (includes `acceptedOnEarlierAttempt`). */
  readonly accepted: number;
  /** Stored before this call (or earlier in it), same payload. */
  readonly duplicates: number;
  readonly conflicts: number;
  /** Invalid, in a closed period, or too large for any batch (never sent). */
  readonly rejected: number;
  /** Of `accepted`: committed by an attempt whose answer was lost (the retry answered `duplicate`). */
  readonly acceptedOnEarlierAttempt: number;
  /** Batches sent. */
  readonly batches: number;
  /** HTTP requests made (batches + retries). */
  readonly attempts: number;
  /** One per caller event, in the caller's order. */
  readonly outcomes: readonly EventOutcome[];
}

export function emptyReport(): IngestReport {
  return { accepted: 0, duplicates: 0, conflicts: 0, rejected: 0, acceptedOnEarlierAttempt: 0, batches: 0, attempts: 0, outcomes: [] };
}

/** Sends `events` (already prepared) and maps every answer back to the caller's positions. */
export async function ingestPrepared(config: HttpConfig, events: readonly PreparedEvent[], limits: BatchLimits, opts: CallOptions = {}): Promise<IngestReport> {
  const { batches, oversized } = splitBatches(events, limits);
  const outcomes: EventOutcome[] = new Array(events.length);
  const totals = { accepted: 0, duplicates: 0, conflicts: 0, rejected: 0, acceptedOnEarlierAttempt: 0, batches: 0, attempts: 0 };
  for (const i of oversized) {
    const e = events[i]!;
    outcomes[i] = {
      index: i,
      event_id: e.event.event_id,
      status: 'rejected',
      reason: `event: ${e.bytes} bytes of JSON, more than maxBatchBytes (${limits.maxBytes}) allows in one request; not sent`,
      retried: false,
    };
    totals.rejected++;
  }
  const report = (): IngestReport => ({ ...totals, outcomes: outcomes.filter((o) => o !== undefined) });
  const storedKeys = new Set<string>();

  for (let b = 0; b < batches.length; b++) {
    const positions = batches[b]!;
    const batch = positions.map((i) => events[i]!);
    let r: ReturnType<typeof batchOutcomes>;
    try {
      const answer = await send<IngestResult>(config, { method: ROUTES.ingestBatch.method, path: ROUTES.ingestBatch.path, body: batchBody(batch) }, opts);
      totals.attempts += answer.attempts;
      r = batchOutcomes(
        batch.map((p) => p.event),
        positions,
        answer.body,
        answer.attempts,
        storedKeys,
      );
    } catch (err) {
      // This batch's outcome is unknown (or refused) and later ones were not sent: hand them back.
      if (err instanceof UsageDbError) {
        const left = batches.slice(b).flat();
        err.ingest = { report: report(), unacknowledged: left.map((i) => ({ index: i, event: events[i]!.event })) };
      }
      throw err;
    }
    totals.batches++;
    for (const o of r.outcomes) outcomes[o.index] = o;
    totals.accepted += r.counts.accepted;
    totals.duplicates += r.counts.duplicates;
    totals.conflicts += r.counts.conflicts;
    totals.rejected += r.counts.rejected;
    totals.acceptedOnEarlierAttempt += r.counts.acceptedOnEarlierAttempt;
  }
  return report();
}
