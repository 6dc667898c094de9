/** Path and query parameter helpers shared by the routes. */
import type { Context } from 'hono';
import { ValidationError } from '../errors.ts';

export const ACCOUNT_ID = /^[^\u0000-\u001f\u007f]{1,256}$/;

export function accountParam(c: Context): string {
  const id = c.req.param('account_id') ?? '';
  if (!ACCOUNT_ID.test(id)) throw new ValidationError('account_id: must be 1-256 characters without control characters', 'account_id');
  return id;
}

/**
 * The request's query parameters, refusing any the route does not know (a typo must not silently
 * widen a query or turn a dry run into a real one) and any given twice (the second would be
 * ignored). Read from the URL itself into a null-prototype record, so a parameter named like an
 * Object property (`__proto__`, `constructor`) is an ordinary unknown name.
 */
export function onlyParams(c: Context, allowed: readonly string[]): Readonly<Record<string, string>> {
  const out: Record<string, string> = Object.create(null);
  for (const [name, value] of new URL(c.req.url).searchParams) {
    const shown = name.slice(0, 64);
    if (!allowed.includes(name)) throw new ValidationError(`${shown}: unknown query parameter; allowed: ${allowed.join(', ') || 'none'}`, shown);
    if (Object.hasOwn(out, name)) throw new ValidationError(`${shown}: given more than once; give it once (lists are comma-separated)`, shown);
    out[name] = value;
  }
  return out;
}
