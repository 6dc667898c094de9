/** Billing periods are UTC calendar months written `YYYY-MM`. */
import { ValidationError } from '../errors.ts';

export interface Month {
  readonly name: string;
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
