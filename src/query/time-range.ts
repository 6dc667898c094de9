/**
 * Half-open [from, to) ranges from RFC 3339 timestamps (UTC offsets allowed, converted to UTC).
 * A bad timestamp, from >= to, or a range over the limit is a 400 naming the parameter.
 */
import { ValidationError } from '../errors.ts';
import { DAY_MS } from '../model/time.ts';

// RFC 3339: date, 'T' or space, time with optional fraction, and Z or an offset. A bare date is
// accepted too (midnight UTC), as users type `from=2026-01-01`.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2}))?$/;

export function parseTimestamp(value: string | undefined, field: string): number {
  if (value === undefined || value === '') throw new ValidationError(`${field}: is required (RFC 3339, e.g. 2026-01-01T00:00:00Z)`, field);
  const m = RFC3339.exec(value);
  if (m === null) throw new ValidationError(`${field}: "${value.slice(0, 40)}" is not an RFC 3339 timestamp (e.g. 2026-01-01T00:00:00Z)`, field);
  const ms = Date.parse(m[4] === undefined ? `${value}T00:00:00Z` : value.replace(' ', 'T'));
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const check = new Date(Date.UTC(y, mo - 1, d));
  if (
    Number.isNaN(ms) ||
    check.getUTCMonth() !== mo - 1 ||
    check.getUTCDate() !== d ||
    Number(m[4] ?? 0) > 23 ||
    Number(m[5] ?? 0) > 59 ||
    Number(m[6] ?? 0) > 59
  ) {
    throw new ValidationError(`${field}: "${value.slice(0, 40)}" is not a valid date and time`, field);
  }
  return ms;
}

export interface TimeRange {
  readonly from: number;
  readonly to: number;
}

/** Maximum span of one query (documented in the README). */
export const DEFAULT_MAX_RANGE_MS = 400 * DAY_MS;

export function parseRange(from: string | undefined, to: string | undefined, maxRangeMs = DEFAULT_MAX_RANGE_MS): TimeRange {
  const f = parseTimestamp(from, 'from');
  const t = parseTimestamp(to, 'to');
  return checkRange(f, t, maxRangeMs);
}

export function checkRange(from: number, to: number, maxRangeMs = DEFAULT_MAX_RANGE_MS): TimeRange {
  if (from >= to) throw new ValidationError('from: must be before to (the range is [from, to))', 'from');
  if (to - from > maxRangeMs) throw new ValidationError(`to: the range is longer than ${Math.round(maxRangeMs / DAY_MS)} days`, 'to');
  return { from, to };
}

export function isoString(ms: number): string {
  return new Date(ms).toISOString();
}
