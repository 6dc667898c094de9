/**
 * Hash routes (`#/accounts/acct_42?from=…&to=…`): the server serves one page and the state of a
 * view is in its URL, so views can be bookmarked and shared. Hashes that do not start with `#/`
 * (the skip link's `#main`) are in-page anchors, not routes.
 */
import type { Session } from './api.ts';

export interface Route {
  readonly path: readonly string[];
  readonly params: URLSearchParams;
}

export function parseHash(hash: string): Route | null {
  if (hash !== '' && hash !== '#' && !hash.startsWith('#/')) return null;
  const body = hash.replace(/^#\/?/, '');
  const [p = '', q = ''] = body.split('?', 2) as [string?, string?];
  const path = p
    .split('/')
    .filter((s) => s !== '')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
  return { path, params: new URLSearchParams(q) };
}

export function href(path: readonly string[], params: Record<string, string | number | null | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
  const qs = q.toString();
  return `#/${path.map(encodeURIComponent).join('/')}${qs === '' ? '' : `?${qs}`}`;
}

export function go(path: readonly string[], params: Record<string, string | number | null | undefined> = {}): void {
  location.hash = href(path, params);
}

/** Same view, some parameters changed (null removes one). */
export function withParams(route: Route, changes: Record<string, string | number | null>): string {
  const p: Record<string, string | number | null> = Object.fromEntries(route.params);
  for (const [k, v] of Object.entries(changes)) p[k] = v;
  return href(route.path, p);
}

export interface PageContext {
  readonly root: HTMLElement;
  readonly route: Route;
  readonly session: Session;
  /** False once the user navigated elsewhere: late answers must not touch the page. */
  alive(): boolean;
  /** Runs when the user leaves the view (timers, charts). */
  onLeave(fn: () => void): void;
}

export type Page = (ctx: PageContext) => Promise<void>;
