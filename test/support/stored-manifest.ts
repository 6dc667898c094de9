/** Reads a stored current.json (or full copy) the way a ManifestStore does, its parts included. */
import { decodeStored } from '../../src/manifest/codec.ts';
import { ManifestParts } from '../../src/manifest/part-store.ts';
import type { ShardManifest } from '../../src/manifest/schema.ts';
import type { ObjectStore } from '../../src/store/types.ts';

/** The part keys live next to `current.json`: `<shard dir>/manifest/parts/<hash>.json`. */
export function partKeyBeside(manifestKey: string, hash: string): string {
  return `${manifestKey.replace(/\/manifest\/(current\.json|history\/[^/]+)$/, '')}/manifest/parts/${hash}.json`;
}

export async function readStoredManifest(store: ObjectStore, key: string, body: Uint8Array): Promise<ShardManifest> {
  const s = decodeStored(body, key);
  if (s.kind === 'whole') return s.manifest;
  return new ManifestParts({ store, keys: { part: (h) => partKeyBeside(key, h) }, shard: s.stored.shard }).decode(body, key);
}
