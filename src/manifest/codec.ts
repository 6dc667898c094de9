/**
 * Manifest bytes ⇄ validated objects. Decoding distinguishes "corrupt" (unparseable or fails
 * the schema) from "written by a newer format" so the shard fails closed with the right reason.
 */
import { ManifestCorruptError, UnsupportedFormatError } from '../errors.ts';
import { STORED_MANIFEST_FORMAT, STORED_MANIFEST_FORMAT_MAX, storedManifest, type StoredManifest } from './parts.ts';
import { shardManifest, type ShardManifest } from './schema.ts';

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** JSON of frozen objects (committed entries are deep-frozen and never change), by identity. */
const remembered = new WeakMap<object, string>();

function entryJson(v: unknown): string {
  if (v === undefined || typeof v === 'function' || typeof v === 'symbol') return 'null';
  if (v === null || typeof v !== 'object' || !Object.isFrozen(v)) return JSON.stringify(v);
  let s = remembered.get(v);
  if (s === undefined) remembered.set(v, (s = JSON.stringify(v)));
  return s;
}

/**
 * Exactly `JSON.stringify(m)` for a plain object, but the entries of its list fields that are
 * frozen are stringified once and remembered: a commit that adds one segment to thousands
 * stringifies one entry, not thousands (the manifest's JSON was the largest CPU cost of a small
 * commit). Like manifestDigest, it relies on frozen entries being deep-frozen.
 */
export function stringifyManifest(m: object): string {
  let s = '{';
  let first = true;
  for (const k of Object.keys(m)) {
    const v = (m as Record<string, unknown>)[k];
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    s += `${first ? '' : ','}${JSON.stringify(k)}:`;
    first = false;
    if (Array.isArray(v)) {
      s += '[';
      for (let i = 0; i < v.length; i++) s += (i === 0 ? '' : ',') + entryJson(v[i]);
      s += ']';
    } else s += JSON.stringify(v);
  }
  return `${s}}`;
}

/**
 * Bytes of a manifest built by applying validated edits to a decoded (validated) manifest: the
 * commit path's encoder. Validating the whole manifest again costs more than the rest of a
 * commit at a thousand segments; what the edits brought in was validated on the way in.
 */
export function encodeDraft(m: ShardManifest): Uint8Array {
  return enc.encode(stringifyManifest(m));
}

/** Refuses an invalid manifest: a bug, and it must never reach the store. Returns the checked copy. */
export function checkManifest(m: ShardManifest): ShardManifest {
  const checked = shardManifest.safeParse(m);
  if (!checked.success) {
    // A mutation produced something invalid: a bug, and it must never reach the store.
    throw new Error(`refusing to commit an invalid manifest: ${checked.error.issues[0]?.path.join('.')}: ${checked.error.issues[0]?.message}`);
  }
  return checked.data;
}

/** Bytes of a whole (format-1) manifest, checked first. */
export function encodeManifest(m: ShardManifest): Uint8Array {
  return enc.encode(JSON.stringify(checkManifest(m)));
}

/** What a stored `current.json` (or full copy) holds: a whole format-1 manifest, or a format-2 one split into parts. */
export type StoredBody = { readonly kind: 'whole'; readonly manifest: ShardManifest } | { readonly kind: 'split'; readonly stored: StoredManifest };

/** Bytes of a split manifest (parts.ts `storedOf`, built from a checked manifest). */
export function encodeStored(m: StoredManifest): Uint8Array {
  return enc.encode(stringifyManifest(m));
}

/** A stored manifest of either format, validated; its parts are not read here (part-store.ts). */
export function decodeStored(bytes: Uint8Array, where: string): StoredBody {
  let raw: unknown;
  try {
    raw = JSON.parse(dec.decode(bytes));
  } catch (err) {
    throw new ManifestCorruptError(`${where} is not valid JSON; the shard refuses writes until it is restored`, { cause: err });
  }
  const format = (raw as { format?: unknown } | null)?.format;
  if (typeof format === 'number' && format > STORED_MANIFEST_FORMAT_MAX) {
    throw new UnsupportedFormatError(`${where} has format ${format}; this version reads formats 1 to ${STORED_MANIFEST_FORMAT_MAX}. Upgrade usageDb.`);
  }
  const split = typeof format === 'number' && format >= STORED_MANIFEST_FORMAT && format <= STORED_MANIFEST_FORMAT_MAX;
  const parsed = split ? storedManifest.safeParse(raw) : shardManifest.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ManifestCorruptError(
      `${where} fails the manifest schema at ${issue?.path.join('.') || '(root)'}: ${issue?.message}; the shard refuses writes until it is restored`,
    );
  }
  return split ? { kind: 'split', stored: parsed.data as StoredManifest } : { kind: 'whole', manifest: parsed.data as ShardManifest };
}

/** A whole (format-1) manifest; a split one is refused here (read it through part-store.ts). */
export function decodeManifest(bytes: Uint8Array, where: string): ShardManifest {
  const body = decodeStored(bytes, where);
  if (body.kind === 'split') throw new ManifestCorruptError(`${where} is split into parts; it must be read with its parts`);
  return body.manifest;
}
