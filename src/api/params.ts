/** Path and query parameter helpers shared by the routes. */
import type { Context } from 'hono';
import { ValidationError } from '../errors.ts';

export const ACCOUNT_ID = /^[^\u0000-\u001f\u007f]{1,256}$/;

export function accountParam(c: Context): string {
  const id = c.req.param('account_id') ?? '';
  if (!ACCOUNT_ID.test(id)) throw new ValidationError('account_id: must be 1-256 characters without control characters', 'account_id');
  return id;
}
