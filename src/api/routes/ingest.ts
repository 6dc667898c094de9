/** POST /v1/usage/batch: `{events: [...]}` → `{accepted, duplicates, conflicts, rejected, errors}`. */
import type { Hono } from 'hono';
import { ValidationError } from '../../errors.ts';
import type { Ingestor } from '../../ingest/ingestor.ts';
import type { AppEnv } from '../env.ts';
import { readJson } from '../json.ts';

export function ingestRoutes(app: Hono<AppEnv>, ingestor: Ingestor): void {
  // The body limit (USAGEDB_MAX_BODY_BYTES) is the app's body-limit middleware (src/api/body-limit.ts).
  app.post(
    '/v1/usage/batch',
    async (c) => {
      const body = await readJson(c.req.raw);
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new ValidationError('body: must be a JSON object {"events": [...]}', 'body');
      }
      const events = (body as { events?: unknown }).events;
      if (events === undefined) throw new ValidationError('events: is required', 'events');
      if (!Array.isArray(events)) throw new ValidationError('events: must be an array', 'events');
      return c.json(await ingestor.ingest(events, c.get('background')));
    },
  );
}
