/**
 * Mounts the web console on the app: the page and its embedded assets (public) and the JSON
 * routes it needs (whoami, admin status, event rows), each guarded by `scopeFor` like the rest.
 */
import type { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { consoleApiRoutes, type ConsoleApiDeps } from './api-routes.ts';
import { consolePageRoutes } from './routes.ts';

export function consoleRoutes(app: Hono<AppEnv>, deps: ConsoleApiDeps): void {
  consoleApiRoutes(app, deps);
  consolePageRoutes(app);
}
