/**
 * Manifest bytes ⇄ validated objects. Decoding distinguishes "corrupt" (unparseable or fails
 * the schema) from "written by a newer format" so the shard fails closed with the right reason.
 */
import { ManifestCorruptError, UnsupportedFormatError } from '../errors.ts';
import { MANIFEST_FORMAT, shardManifest, type ShardManifest } from './schema.ts';

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/**
 * Bytes of a manifest built by applying validated edits to a decoded (validated) manifest: the
 * commit path's encoder. Validating the whole manifest again costs more than the rest of a
 * commit at a thousand segments; what the edits brought in was validated on the way in.
 */
export function encodeDraft(m: ShardManifest): Uint8Array {
  return enc.encode(JSON.stringify(m));
}

export function encodeManifest(m: ShardManifest): Uint8Array {
  const checked = shardManifest.safeParse(m);
  if (!checked.success) {
    // A mutation produced something invalid: a bug, and it must never reach the store.
    throw new Error(`refusing to commit an invalid manifest: ${checked.error.issues[0]?.path.join('.')}: ${checked.error.issues[0]?.message}`);
  }
  return enc.encode(JSON.stringify(checked.data));
}

export function decodeManifest(bytes: Uint8Array, where: string): ShardManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(dec.decode(bytes));
  } catch (err) {
    throw new ManifestCorruptError(`${where} is not valid JSON; the shard refuses writes until it is restored`, { cause: err });
  }
  const format = (raw as { format?: unknown } | null)?.format;
  if (typeof format === 'number' && format > MANIFEST_FORMAT) {
    throw new UnsupportedFormatError(`${where} has format ${format}; this version reads format ${MANIFEST_FORMAT}. Upgrade usageDb.`);
  }
  const parsed = shardManifest.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ManifestCorruptError(
      `${where} fails the manifest schema at ${issue?.path.join('.') || '(root)'}: ${issue?.message}; the shard refuses writes until it is restored`,
    );
  }
  return parsed.data;
}
