/**
 * Billing periods are UTC calendar months written `YYYY-MM`: parsing them, the month of a
 * timestamp, and which (account, month) periods are closed to Usage events. Ingest re-checks the
 * closed set inside its commit, so a Usage event for a closed period is refused on the same
 * manifest generation the close committed on.
 */
import { ValidationError } from '../errors.ts';

export interface Month {
  readonly name: string;
  /** Half-open [from, to) in ms since the epoch. */
  readonly from: number;
  readonly to: number;
}

export function parseMonth(value: string | undefined, field = 'period'): Month {
  const m = /^(\d{4})-(\d{2})$/.exec(value ?? '');
  const month = Number(m?.[2]);
  if (m === null || month < 1 || month > 12 || Number(m[1]) < 1970) {
    throw new ValidationError(`${field}: "${String(value).slice(0, 20)}" is not a month; use YYYY-MM (e.g. 2026-01)`, field);
  }
  const year = Number(m[1]);
  return { name: `${m[1]}-${m[2]}`, from: Date.UTC(year, month - 1, 1), to: Date.UTC(year, month, 1) };
}

/** The UTC month (`YYYY-MM`) a timestamp falls in. */
export function monthOf(timestampMs: number): string {
  // Events of one request (and one commit) nearly always fall in one month: the last month's
  // bounds answer them without a Date per event.
  if (timestampMs >= lastMonth.from && timestampMs < lastMonth.to) return lastMonth.name;
  const d = new Date(timestampMs);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const name = `${y.toString().padStart(4, '0')}-${String(m + 1).padStart(2, '0')}`;
  // Date.UTC maps years 0-99 to 1900-1999: the bounds are set on a Date instead.
  const from = new Date(0);
  from.setUTCFullYear(y, m, 1);
  const to = new Date(0);
  to.setUTCFullYear(y, m + 1, 1);
  if (!Number.isNaN(from.getTime()) && !Number.isNaN(to.getTime())) lastMonth = { from: from.getTime(), to: to.getTime(), name };
  return name;
}

let lastMonth = { from: 0, to: 0, name: '' };

/** What ClosedPeriods needs of a period record. */
export interface PeriodState {
  readonly account_id: string;
  readonly month: string;
  readonly state: 'open' | 'closing' | 'closed';
}

/** The (account, month) periods that refuse Usage events: closed, or fenced (`closing`). */
export class ClosedPeriods {
  private readonly closed: Set<string>;
  private readonly fenced: Set<string>;

  constructor(periods: readonly PeriodState[]) {
    // A `closing` period refuses Usage too: the close that fenced it is about to freeze it.
    this.closed = new Set(periods.filter((p) => p.state !== 'open').map((p) => `${p.account_id}\u0000${p.month}`));
    this.fenced = new Set(periods.filter((p) => p.state === 'closing').map((p) => `${p.account_id}\u0000${p.month}`));
  }

  /** Closed or fenced: Usage events are refused. */
  isClosed(accountId: string, timestampMs: number): boolean {
    return this.closed.size > 0 && this.closed.has(`${accountId}\u0000${monthOf(timestampMs)}`);
  }

  /** Fenced (`closing`): its close is in progress; corrections wait for it. */
  isFenced(accountId: string, timestampMs: number): boolean {
    return this.fenced.size > 0 && this.fenced.has(`${accountId}\u0000${monthOf(timestampMs)}`);
  }
}
