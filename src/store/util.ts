/** Helpers shared by the drivers (no driver imports another driver). */
import type { ByteRange, ListOptions } from './types.ts';

const hex = (bytes: ArrayBuffer): string => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');

/** A content-derived ETag (first 128 bits of SHA-256), so equal bytes give equal ETags as on S3. */
export async function contentEtag(body: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', body as Uint8Array<ArrayBuffer>);
  return hex(digest.slice(0, 16));
}

export function sliceRange(body: Uint8Array, range: ByteRange | undefined): Uint8Array {
  if (range === undefined) return body;
  const end = range.length === undefined ? body.byteLength : Math.min(body.byteLength, range.offset + range.length);
  return body.subarray(Math.min(range.offset, body.byteLength), end);
}

export const DEFAULT_LIST_LIMIT = 1000;

/** Pagination over an ascending key list; the cursor is the last key returned (start-after). */
export function pageOfSortedKeys(sorted: readonly string[], opts: ListOptions): { keys: string[]; cursor: string | undefined } {
  const limit = Math.max(1, Math.min(opts.limit ?? DEFAULT_LIST_LIMIT, DEFAULT_LIST_LIMIT));
  let start = 0;
  if (opts.cursor !== undefined) {
    const after = opts.cursor;
    start = sorted.findIndex((k) => k > after);
    if (start < 0) start = sorted.length;
  }
  const keys = sorted.slice(start, start + limit);
  const more = start + limit < sorted.length;
  return { keys, cursor: more ? keys[keys.length - 1] : undefined };
}

/** Keys must be relative paths without empty, `.` or `..` segments (they become file paths in fs). */
export function assertValidKey(key: string): void {
  if (key.length === 0 || key.length > 1024 || key.startsWith('/') || key.includes('\0')) {
    throw new Error(`invalid object key: ${JSON.stringify(key)}`);
  }
  for (const part of key.split('/')) {
    if (part === '' || part === '.' || part === '..') throw new Error(`invalid object key: ${JSON.stringify(key)}`);
  }
}
