/**
 * API keys and their scopes. USAGEDB_API_KEYS lists `name:secret:scope+scope` entries separated
 * by commas; a secret may be given hashed as `sha256=<64 hex digits>`. Clients send
 * `Authorization: Bearer <secret>`. Secrets are compared as SHA-256 digests in constant time and
 * are never logged or echoed; `admin` grants every scope.
 */
import type { MiddlewareHandler } from 'hono';
import { ForbiddenError, UnauthorizedError, ValidationError } from '../errors.ts';
import type { AppEnv } from './env.ts';

export const SCOPES = ['ingest', 'read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiKey {
  readonly name: string;
  readonly digest: Uint8Array;
  readonly scopes: ReadonlySet<Scope>;
}

const VAR = 'USAGEDB_API_KEYS';
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const HASHED = /^sha256=([0-9a-fA-F]{64})$/;

export async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
}

const isScopeList = (field: string): boolean => field.split('+').every((s) => (SCOPES as readonly string[]).includes(s.trim()));

/**
 * Parses USAGEDB_API_KEYS. A mistake names the entry by its position and says which field is
 * wrong, never what it holds: with the fields out of order any of them may be the secret, so no
 * message shows a field's value, except a repeated name (every other field checked by then).
 */
export async function parseApiKeys(raw: string | undefined): Promise<ApiKey[]> {
  if (raw === undefined || raw.trim() === '') return [];
  const keys: ApiKey[] = [];
  const entries = raw
    .split(/[,\n]/)
    .map((e) => e.trim())
    .filter((e) => e !== '');
  for (const [i, entry] of entries.entries()) {
    const where = `${VAR}: entry ${i + 1}`;
    const parts = entry.split(':');
    if (parts.length !== 3)
      throw new ValidationError(`${where}: has ${parts.length} field${parts.length === 1 ? '' : 's'}; write name:secret:scope+scope`, VAR);
    const [name, secret, scopeList] = parts as [string, string, string];
    const swapped = !isScopeList(scopeList) && (isScopeList(name) || isScopeList(secret));
    const order = swapped ? '; the scopes are in another field, so the fields look out of order (name:secret:scope+scope)' : '';
    if (!NAME.test(name)) throw new ValidationError(`${where}: the first field, the name, must be 1-64 of A-Z a-z 0-9 _ . -${order}`, VAR);
    if (!isScopeList(scopeList))
      throw new ValidationError(`${where}: the third field has an unknown scope; write scopes joined by + (${SCOPES.join(', ')})${order}`, VAR);
    let digest: Uint8Array;
    const hashed = HASHED.exec(secret);
    if (hashed !== null) digest = Uint8Array.from(hashed[1]!.match(/../g)!, (h) => parseInt(h, 16));
    else if (/^sha256=/i.test(secret)) throw new ValidationError(`${where}: the second field starts with sha256= but is not followed by 64 hex digits`, VAR);
    else if (secret.length < 16 || /\s/.test(secret)) {
      throw new ValidationError(
        `${where}: the second field, the secret, must be at least 16 characters without spaces (or sha256=<64 hex digits>); entries are name:secret:scope+scope`,
        VAR,
      );
    } else digest = await sha256(secret);
    const first = keys.findIndex((k) => k.name === name);
    if (first >= 0) throw new ValidationError(`${where} (${name}): the name is used twice (entry ${first + 1} has it too)`, VAR);
    keys.push({ name, digest, scopes: new Set(scopeList.split('+').map((s) => s.trim()) as Scope[]) });
  }
  return keys;
}

export function equalConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length && i < b.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** The scope a request needs, or null for a public route. */
export function scopeFor(method: string, path: string, publicMetrics = false): Scope | null {
  if (path === '/health' || path === '/openapi.json' || path === '/docs') return null;
  // The console's static page and assets hold no data; /v1/whoami checks the key it is sent itself.
  if (path === '/console' || path.startsWith('/console/') || path === '/v1/whoami') return null;
  // Between Node processes of one database: the route checks the peer token itself (routes/peer.ts).
  if (path.startsWith('/internal/')) return null;
  if (path === '/metrics') return publicMetrics ? null : 'admin';
  if (method === 'POST' && path === '/v1/usage/batch') return 'ingest';
  if (path.startsWith('/v1/admin/')) return 'admin';
  if (method === 'POST' && /^\/v1\/accounts\/[^/]+\/periods\/[^/]+\/(close|reopen)$/.test(path)) return 'admin';
  return 'read';
}

/** The key an Authorization header presents; 401 when there is none or it is unknown. */
export async function identify(keys: readonly ApiKey[], header: string | undefined): Promise<ApiKey> {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (m === null) throw new UnauthorizedError('authorization: send "Authorization: Bearer <api key>"');
  const secret = m[1]!;
  let known = verified.get(keys);
  const hit = known?.get(secret);
  if (hit !== undefined) return hit;
  const digest = await sha256(secret);
  let found: ApiKey | undefined;
  for (const k of keys) if (equalConstantTime(k.digest, digest) && found === undefined) found = k;
  if (found === undefined) throw new UnauthorizedError('authorization: unknown API key');
  if (known === undefined) verified.set(keys, (known = new Map()));
  if (known.size >= MAX_VERIFIED) known.clear();
  known.set(secret, found);
  return found;
}

/**
 * Secrets that matched a key, per key list: a client sends the same key with every request, and
 * its SHA-256 (an asynchronous WebCrypto call) was a tenth of the CPU of a 10-event request. Only
 * secrets that matched are kept (never a guess), in memory that already holds the keys; a secret
 * that matches nothing is always hashed and compared in constant time.
 */
const verified = new WeakMap<readonly ApiKey[], Map<string, ApiKey>>();
const MAX_VERIFIED = 256;

export function authMiddleware(keys: readonly ApiKey[], publicMetrics = false): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (keys.length === 0) {
      c.set('actor', 'anonymous');
      return next();
    }
    const scope = scopeFor(c.req.method, c.req.path, publicMetrics);
    if (scope === null) return next();
    const found = await identify(keys, c.req.header('authorization'));
    if (!found.scopes.has(scope) && !found.scopes.has('admin')) {
      throw new ForbiddenError(`authorization: the key "${found.name}" lacks the "${scope}" scope this route needs`);
    }
    c.set('actor', found.name);
    return next();
  };
}
