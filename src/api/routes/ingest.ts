/** POST /v1/usage/batch: `{events: [...]}` → `{accepted, duplicates, conflicts, rejected, errors}`. */
import type { Hono } from 'hono';
import { ValidationError } from '../../errors.ts';
import type { Ingestor } from '../../ingest/ingestor.ts';
import type { AppEnv } from '../env.ts';
import { isJsonObject, readJson, rejectUnknownFields } from '../json.ts';
import { onlyParams } from '../params.ts';

/**
 * The body limit (USAGEDB_MAX_BODY_BYTES) is applied by the app's body-limit middleware before
 * this handler; the top-level object is strict (only `events`), each event is validated one by
 * one by the ingestor (an invalid one, an unknown event field included, is rejected alone).
 */
export function ingestRoutes(app: Hono<AppEnv>, ingestor: Ingestor): void {
  app.post('/v1/usage/batch', async (c) => {
    onlyParams(c, []);
    const body = await readJson(c.req.raw);
    if (!isJsonObject(body)) throw new ValidationError('body: must be a JSON object {"events": [...]}', 'body');
    rejectUnknownFields(body, ['events']);
    const events = body.events;
    if (events === undefined) throw new ValidationError('events: is required', 'events');
    if (!Array.isArray(events)) throw new ValidationError('events: must be an array', 'events');
    return c.json(await ingestor.ingest(events, c.get('background')));
  });
}
