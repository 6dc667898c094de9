/**
 * Export of the rows on screen (never more): NDJSON as the API answered them, or CSV with
 * RFC 4180 quoting. Cells that a spreadsheet would run as a formula are prefixed with a quote;
 * integers (negative quantities included) are left exact.
 */
import type { AuditRow } from './types.ts';

export function toNdjson(rows: readonly AuditRow[]): string {
  return rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length > 0 ? '\n' : '');
}

export const CSV_COLUMNS = [
  'event_id',
  'kind',
  'account_id',
  'subscription_id',
  'product_id',
  'meter_id',
  'model_id',
  'source',
  'unit',
  'timestamp_ms',
  'timestamp',
  'quantity',
  'dimensions',
  'correction_ref',
  'ingested_at_ms',
  'segment_id',
] as const;

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s = typeof v === 'string' ? v : typeof v === 'number' ? String(v) : JSON.stringify(v);
  if (/^[=+\-@\t\r]/.test(s) && !/^-?\d+$/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(rows: readonly AuditRow[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of rows) {
    const values: Record<(typeof CSV_COLUMNS)[number], unknown> = { ...r, timestamp: new Date(r.timestamp_ms).toISOString() };
    lines.push(CSV_COLUMNS.map((c) => cell(values[c])).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

export function download(name: string, type: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A file-name-safe form of an id. */
export function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80);
}
