/**
 * Formatting without losing exactness: quantities are signed 128-bit decimal strings and stay
 * strings (digit grouping is done on the text, sums with BigInt). Number is used only to draw.
 */
import { h } from './dom.ts';

const DECIMAL = /^-?\d+$/;

/** "1234567" → "1,234,567"; anything that is not an integer string is returned as is. */
export function groupDigits(s: string): string {
  if (!DECIMAL.test(s)) return s;
  const neg = s.startsWith('-');
  const digits = neg ? s.slice(1) : s;
  const grouped = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return neg ? `-${grouped}` : grouped;
}

/** A quantity as shown in tables: grouped digits, the exact string in data-exact. */
export function qty(s: string | null | undefined): HTMLElement {
  const v = s ?? '0';
  return h('span', { class: 'qty', 'data-exact': v }, groupDigits(v));
}

export function count(n: number | null | undefined): HTMLElement {
  const v = String(n ?? 0);
  return h('span', { class: 'qty', 'data-exact': v }, groupDigits(v));
}

export function sumDecimals(values: readonly (string | null | undefined)[]): string {
  return values.reduce((s, v) => s + BigInt(v ?? '0'), 0n).toString();
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** "2026-05-03 14:05:09 UTC" from ms or an ISO string. */
export function utc(t: number | string | null | undefined, withSeconds = true): string {
  if (t === null || t === undefined) return '—';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  const base = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  return `${withSeconds ? `${base}:${pad(d.getUTCSeconds())}` : base} UTC`;
}

/** A relative age: "12 s ago", "3 min ago", "2 h ago", "4 d ago". */
export function ago(t: string | number | null | undefined, nowMs: number): string {
  if (t === null || t === undefined) return 'never';
  const s = Math.max(0, Math.round((nowMs - new Date(t).getTime()) / 1000));
  if (s < 90) return `${s} s ago`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min ago`;
  if (s < 48 * 3600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export function rate(perSecond: number | null): string {
  if (perSecond === null) return '—';
  if (perSecond >= 100) return `${Math.round(perSecond).toLocaleString('en')}/s`;
  return `${perSecond.toFixed(perSecond >= 10 ? 1 : 2)}/s`;
}

export function percent(x: number | null): string {
  return x === null ? '—' : `${(x * 100).toFixed(1)} %`;
}

/** `YYYY-MM-DD` of a UTC day (what <input type=date> holds). */
export function dayString(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

export function monthString(ms: number): string {
  return dayString(ms).slice(0, 7);
}

const DAY = 86_400_000;

export function startOfUtcDay(ms: number): number {
  return Math.floor(ms / DAY) * DAY;
}

export function parseDay(s: string | null): number | null {
  if (s === null || !/^\d{4}-\d{2}-\d{2}$/.test(s)) return null;
  const ms = Date.parse(`${s}T00:00:00Z`);
  return Number.isNaN(ms) ? null : ms;
}
