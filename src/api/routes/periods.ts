/** Billing period routes: close, reopen, read one, list an account's closed-at-least-once periods. */
import type { Context, Hono } from 'hono';
import { ValidationError } from '../../errors.ts';
import type { PeriodService } from '../../period/periods.ts';
import type { AppEnv } from '../env.ts';
import { accountParam } from '../params.ts';

async function actorOf(c: Context<AppEnv>): Promise<{ name: string; reason: string; force: boolean }> {
  const text = await c.req.text();
  let reason = '';
  let force = false;
  if (text.trim() !== '') {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ValidationError('body: is not valid JSON; send {"reason": "..."} or nothing', 'body');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ValidationError('body: must be a JSON object {"reason": "..."}', 'body');
    const r = (body as { reason?: unknown }).reason;
    if (r !== undefined && r !== null) {
      if (typeof r !== 'string') throw new ValidationError('reason: must be a string', 'reason');
      if (r.length > 1024) throw new ValidationError('reason: longer than 1024 characters', 'reason');
      reason = r;
    }
    const f = (body as { force?: unknown }).force;
    if (f !== undefined && typeof f !== 'boolean') throw new ValidationError('force: must be true or false', 'force');
    force = f === true;
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
  app.get('/v1/accounts/:account_id/periods/:period', async (c) => c.json(await periods.get(accountParam(c), c.req.param('period'))));
  app.get('/v1/accounts/:account_id/periods', async (c) => c.json(await periods.list(accountParam(c))));
}
