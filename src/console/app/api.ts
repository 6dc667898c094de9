/**
 * Calls to the usageDb API from the console: relative URLs (the console is served by the API
 * itself), the pasted key as a Bearer token, and the API's error body turned into an ApiError.
 * The key lives in sessionStorage: this tab only, gone when it closes.
 */
import type { Scope, Whoami } from './types.ts';

const KEY_STORAGE = 'usagedb.console.key';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export interface Session {
  readonly whoami: Whoami;
  can(scope: Scope): boolean;
}

export function storedKey(): string | null {
  try {
    return sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

export function storeKey(key: string | null): void {
  try {
    if (key === null) sessionStorage.removeItem(KEY_STORAGE);
    else sessionStorage.setItem(KEY_STORAGE, key);
  } catch {
    // Storage disabled: the key lives as long as the page.
  }
}

/** Fired when the API says the key is missing or no longer valid. */
export const UNAUTHORIZED_EVENT = 'usagedb:unauthorized';

export interface CallOptions {
  /** A key to try instead of the stored one (sign-in). */
  readonly key?: string | null;
  readonly signal?: AbortSignal;
}

async function request(method: 'GET' | 'POST', path: string, body: unknown, opts: CallOptions): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const key = opts.key === undefined ? storedKey() : opts.key;
  if (key !== null && key !== '') headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const init: RequestInit = { method, headers, cache: 'no-store' };
  if (body !== undefined) init.body = JSON.stringify(body);
  if (opts.signal !== undefined) init.signal = opts.signal;
  return fetch(path, init);
}

export async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown, opts: CallOptions = {}): Promise<T> {
  const res = await request(method, path, body, opts);
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    throw new ApiError(res.status, 'bad_response', `${method} /${path}: answered ${res.status} with something that is not JSON`);
  }
  if (!res.ok) {
    const e = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
    const err = new ApiError(res.status, e?.code ?? 'http_error', e?.message ?? `${method} /${path}: HTTP ${res.status}`);
    if (res.status === 401 && opts.key === undefined) window.dispatchEvent(new CustomEvent(UNAUTHORIZED_EVENT));
    throw err;
  }
  return parsed as T;
}

export const get = <T>(path: string, opts?: CallOptions) => call<T>('GET', path, undefined, opts);
export const post = <T>(path: string, body?: unknown, opts?: CallOptions) => call<T>('POST', path, body, opts);

/** `v1/accounts/<id>/…` with every path segment encoded. */
export function accountPath(accountId: string, ...rest: string[]): string {
  return ['v1', 'accounts', encodeURIComponent(accountId), ...rest.map(encodeURIComponent)].join('/');
}

export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

export function sessionOf(whoami: Whoami): Session {
  return { whoami, can: (scope) => whoami.scopes.includes(scope) };
}

/** The OpenAPI document, fetched once: the console asks it which optional routes the server has. */
let openapi: Promise<Record<string, unknown>> | undefined;
export function openApiDocument(): Promise<Record<string, unknown>> {
  openapi ??= get<Record<string, unknown>>('openapi.json').catch((err: unknown) => {
    openapi = undefined;
    throw err;
  });
  return openapi;
}
