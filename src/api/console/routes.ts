/**
 * Serves the console from strings embedded at build time (`assets.generated.ts`): no filesystem
 * at runtime, so the Node server, the Worker and Lambda serve the same bytes. The page is
 * revalidated on every load (ETag); the content-hashed script and stylesheet are immutable.
 */
import type { Context, Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { NotFoundError, ValidationError } from '../../errors.ts';
import type { ConsoleAsset } from '../../console/asset-types.ts';
import { CONSOLE_ASSETS, CONSOLE_PAGE } from '../../console/assets.generated.ts';

/** Only our own script, stylesheet and API; no inline code, no frames, no form posts elsewhere. */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const ASSET_NAME = /^app\.[0-9a-f]{12}\.(js|css)$/;
const byName = new Map(CONSOLE_ASSETS.map((a) => [a.name, a]));

function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((t) => {
    const v = t.trim();
    return v === '*' || v === etag || v === `W/${etag}`;
  });
}

function serve(c: Context<AppEnv>, asset: ConsoleAsset, cacheControl: string): Response {
  const headers = {
    'Content-Type': asset.type,
    'Cache-Control': cacheControl,
    ETag: asset.etag,
    'Content-Security-Policy': CONSOLE_CSP,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Resource-Policy': 'same-origin',
  };
  if (etagMatches(c.req.header('if-none-match'), asset.etag)) return c.body(null, 304, headers);
  return c.body(asset.body, 200, headers);
}

export function consolePageRoutes(app: Hono<AppEnv>): void {
  app.get('/console', (c) => serve(c, CONSOLE_PAGE, 'no-cache'));
  app.get('/console/assets/:name', (c) => {
    const name = c.req.param('name');
    if (!ASSET_NAME.test(name)) throw new ValidationError('name: not a console asset name (app.<hash>.js or app.<hash>.css)', 'name');
    const asset = byName.get(name);
    if (asset === undefined) throw new NotFoundError(`name: no console asset "${name}" in this build; reload /console`);
    return serve(c, asset, 'public, max-age=31536000, immutable');
  });
}
