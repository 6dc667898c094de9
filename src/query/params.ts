/**
 * Parses the pieces of a query shared by the HTTP routes and the JSON query: group keys, filters
 * and the data source. Every mistake is a 400 naming the parameter and the bad value.
 */
import { ValidationError } from '../errors.ts';
import { COLUMNS, TIME_BUCKETS, type Column, type Filter, type GroupKey, type Source, type TimeBucket } from './spec.ts';

/** Event fields that exist but cannot be grouped by (their values are unique or numeric). */
const NOT_GROUPABLE = new Set(['event_id', 'timestamp_ms', 'ingested_at_ms', 'quantity', 'correction_ref', 'dimensions']);
const DIMENSION_KEY = /^[A-Za-z0-9_.\-:]{1,64}$/;

export function parseGroupKey(raw: string, field = 'group_by'): GroupKey {
  const name = raw.trim();
  if ((COLUMNS as readonly string[]).includes(name)) return { type: 'column', column: name as Column };
  if ((TIME_BUCKETS as readonly string[]).includes(name)) return { type: 'time', bucket: name as TimeBucket };
  if (name.startsWith('dim:') || name.startsWith('dimensions.')) {
    const key = name.slice(name.indexOf(name.startsWith('dim:') ? ':' : '.') + 1);
    if (key.length === 0 || key.length > 64) throw new ValidationError(`${field}: "${name}" names no dimension key`, field);
    return { type: 'dimension', key };
  }
  if (NOT_GROUPABLE.has(name)) throw new ValidationError(`${field}: cannot group by "${name}"`, field);
  // The reference accepted a bare dimension key.
  if (DIMENSION_KEY.test(name)) return { type: 'dimension', key: name };
  throw new ValidationError(`${field}: unknown group key "${name.slice(0, 64)}"`, field);
}

export function parseGroupBy(value: string | readonly string[] | undefined, field = 'group_by'): GroupKey[] {
  if (value === undefined) return [];
  const parts = (typeof value === 'string' ? value.split(',') : value).map((s) => s.trim()).filter((s) => s !== '');
  const keys = parts.map((p) => parseGroupKey(p, field));
  const names = new Set<string>();
  for (const p of parts) {
    if (names.has(p)) throw new ValidationError(`${field}: "${p}" is listed twice`, field);
    names.add(p);
  }
  if (keys.length > 8) throw new ValidationError(`${field}: at most 8 group keys`, field);
  return keys;
}

export function parseSource(value: string | undefined): Source {
  if (value === undefined || value === '') return 'auto';
  if (value === 'auto' || value === 'raw' || value === 'rollup') return value;
  throw new ValidationError(`source: must be auto, raw or rollup, got "${value.slice(0, 32)}"`, 'source');
}

/** A filter on a column or `dim:<key>` with one value or a list of values. */
export function parseFilter(name: string, value: unknown, field = `filters.${name}`): Filter {
  const values = typeof value === 'string' ? [value] : Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : null;
  if (values === null || values.length === 0 || values.length > 1000) {
    throw new ValidationError(`${field}: must be a string or a non-empty list of at most 1000 strings`, field);
  }
  if ((COLUMNS as readonly string[]).includes(name)) return { type: 'column', column: name as Column, values };
  if (name.startsWith('dim:') && name.length > 4) return { type: 'dimension', key: name.slice(4), values };
  throw new ValidationError(`${field}: unknown filter "${name.slice(0, 64)}"; use a column (${COLUMNS.join(', ')}) or dim:<key>`, field);
}
