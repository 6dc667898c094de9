/** POST /v1/usage/batch: `{events: [...]}` → `{accepted, duplicates, conflicts, rejected, errors}`. */
import type { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ValidationError } from '../../errors.ts';
import type { Ingestor } from '../../ingest/ingestor.ts';
import type { AppEnv } from '../env.ts';
import { errorBody } from '../errors.ts';
import { readJson } from '../json.ts';

export function ingestRoutes(app: Hono<AppEnv>, ingestor: Ingestor): void {
  const max = ingestor.options.maxBodyBytes;
  app.post(
    '/v1/usage/batch',
    bodyLimit({
      maxSize: max,
      onError: (c) => c.json(errorBody('payload_too_large', `body: larger than ${max} bytes`, { field: 'body', limit: max }), 413),
    }),
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
