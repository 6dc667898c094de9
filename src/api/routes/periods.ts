/** Billing period routes: close, reopen, read one, list an account's closed-at-least-once periods. */
import type { Context, Hono } from 'hono';
import type { PeriodService } from '../../period/periods.ts';
import type { AppEnv } from '../env.ts';
import { parseJsonText, parseStrict } from '../json.ts';
import { accountParam, onlyParams } from '../params.ts';
import { periodActionRequest } from '../schemas.ts';

/** The optional `{reason, force}` body (strict: an unknown field is a 400 naming it). */
async function actorOf(c: Context<AppEnv>): Promise<{ name: string; reason: string; force: boolean }> {
  onlyParams(c, []);
  const text = await c.req.text();
  let reason = '';
  let force = false;
  if (text.trim() !== '') {
    const body = parseStrict(periodActionRequest, parseJsonText(text), 'a JSON object {"reason": "...", "force": true|false} (or nothing)');
    reason = body.reason ?? '';
    force = body.force === true;
  }
  return { name: c.get('actor') ?? 'anonymous', reason, force };
}

export function periodRoutes(app: Hono<AppEnv>, periods: PeriodService): void {
  app.post('/v1/accounts/:account_id/periods/:period/close', async (c) => {
    return c.json(await periods.close(accountParam(c), c.req.param('period'), await actorOf(c)));
  });
  app.post('/v1/accounts/:account_id/periods/:period/reopen', async (c) => {
    return c.json(await periods.reopen(accountParam(c), c.req.param('period'), await actorOf(c)));
  });
  app.get('/v1/accounts/:account_id/periods/:period', async (c) => {
    onlyParams(c, []);
    return c.json(await periods.get(accountParam(c), c.req.param('period')));
  });
  app.get('/v1/accounts/:account_id/periods', async (c) => {
    onlyParams(c, []);
    return c.json(await periods.list(accountParam(c)));
  });
}
