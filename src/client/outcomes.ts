/**
 * Maps one batch answer (`IngestResult`: counts, and `errors[].index` for rejected and
 * conflicting events only) back to one outcome per event, including what a retry means: after a
 * lost answer, `duplicate` for this call's own events is the earlier attempt having committed.
 */
import { UnexpectedResponseError } from './errors.ts';
import type { IngestResult, UsageEvent } from './types.ts';

export type OutcomeStatus =
  /** Stored by this call (on the final attempt, or an earlier attempt of a retried batch). */
  | 'accepted'
  /** Already stored before this call (or earlier in this same call), same payload: ignored. */
  | 'duplicate'
  /**
   * Stored, but the server's counts cannot tell whether by this call or before it: a first-attempt
   * batch that mixed new events with events stored before (the server lists no duplicate indexes).
   */
  | 'accepted_or_duplicate'
  /** This event_id was stored with a different payload; this event was refused. */
  | 'conflict'
  /** Invalid, or a Usage event in a closed period (`reason` says which). */
  | 'rejected';

export interface EventOutcome {
  /** Position in the caller's array. */
  readonly index: number;
  /** The id sent (the caller's, or the one minted for it). */
  readonly event_id: string;
  readonly status: OutcomeStatus;
  /** The server's reason for `conflict` and `rejected` (`<field>: ...`, `conflict: ...`, `period_closed: ...`). */
  readonly reason?: string;
  /**
   * The event's batch took more than one attempt. An `accepted` event of a retried batch may have
   * been committed by an earlier attempt whose answer was lost: the retry answered `duplicate`
   * and the client reports `accepted`, because this call's own earlier attempt stored it.
   */
  readonly retried: boolean;
}

export interface BatchCounts {
  accepted: number;
  duplicates: number;
  conflicts: number;
  rejected: number;
  /** Of `accepted`: answered `duplicate` on a retry, i.e. committed by an earlier attempt. */
  acceptedOnEarlierAttempt: number;
}

/** Identity of a stored event for repeats within one call: the server dedupes event_id per shard, so per account is safe. */
const keyOf = (e: UsageEvent): string => `${e.account_id}\u0000${e.event_id}`;

/**
 * Outcomes of one batch. `positions[j]` is the caller index of the batch's j-th event;
 * `storedKeys` collects (account, event_id) of events stored earlier in the call and is updated.
 */
export function batchOutcomes(
  events: readonly UsageEvent[],
  positions: readonly number[],
  answer: IngestResult,
  attempts: number,
  storedKeys: Set<string>,
): { outcomes: EventOutcome[]; counts: BatchCounts } {
  checkAnswer(answer, events.length);
  const errors = new Map<number, string>();
  for (const e of answer.errors) errors.set(e.index, e.reason);
  const retried = attempts > 1;
  const counts: BatchCounts = { accepted: 0, duplicates: 0, conflicts: 0, rejected: 0, acceptedOnEarlierAttempt: 0 };
  const outcomes: EventOutcome[] = new Array(events.length);
  const open: number[] = [];
  let repeats = 0;

  for (let j = 0; j < events.length; j++) {
    const e = events[j]!;
    const base = { index: positions[j]!, event_id: e.event_id, retried };
    const reason = errors.get(j);
    if (reason !== undefined) {
      const status = reason.startsWith('conflict:') ? 'conflict' : 'rejected';
      outcomes[j] = { ...base, status, reason };
      counts[status === 'conflict' ? 'conflicts' : 'rejected']++;
      continue;
    }
    const key = keyOf(e);
    if (storedKeys.has(key)) {
      // Same account and id as an event stored earlier in this call, and not a conflict: same payload.
      outcomes[j] = { ...base, status: 'duplicate' };
      counts.duplicates++;
      repeats++;
    } else {
      open.push(j);
      storedKeys.add(key);
    }
  }

  const earlier = answer.duplicates - repeats;
  if (earlier < 0 || earlier > open.length)
    throw inconsistent(answer, `duplicates ${answer.duplicates} do not fit ${repeats} repeated ids and ${open.length} other events`);
  let status: OutcomeStatus;
  if (retried) {
    status = 'accepted';
    counts.accepted += open.length;
    counts.acceptedOnEarlierAttempt += earlier;
  } else {
    status = earlier === 0 ? 'accepted' : earlier === open.length ? 'duplicate' : 'accepted_or_duplicate';
    counts.accepted += open.length - earlier;
    counts.duplicates += earlier;
  }
  for (const j of open) outcomes[j] = { index: positions[j]!, event_id: events[j]!.event_id, status, retried };
  return { outcomes, counts };
}

function checkAnswer(a: IngestResult, n: number): void {
  const counts = [a.accepted, a.duplicates, a.conflicts, a.rejected];
  if (!counts.every((c) => Number.isInteger(c) && c >= 0) || !Array.isArray(a.errors)) throw inconsistent(a, 'counts are not integers or errors is not a list');
  if (a.accepted + a.duplicates + a.conflicts + a.rejected !== n)
    throw inconsistent(a, `counts add up to ${counts.reduce((x, y) => x + y)}, the batch had ${n} events`);
  if (a.errors.length !== a.conflicts + a.rejected) throw inconsistent(a, `${a.errors.length} errors for ${a.conflicts} conflicts + ${a.rejected} rejected`);
  const seen = new Set<number>();
  for (const e of a.errors) {
    if (!Number.isInteger(e.index) || e.index < 0 || e.index >= n || seen.has(e.index))
      throw inconsistent(a, `error index ${e.index} is not a position of the batch`);
    seen.add(e.index);
  }
}

function inconsistent(a: IngestResult, why: string): UnexpectedResponseError {
  return new UnexpectedResponseError({
    code: 'unexpected_response',
    message: `ingest answer does not match the batch: ${why}`,
    status: 200,
    details: { answer: a },
  });
}
