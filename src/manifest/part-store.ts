/**
 * A shard's manifest parts in the store (design: docs/manifest-commit.md, "Parts"): encodes a
 * manifest as `current.json` bytes after writing the parts it needs that its base did not have
 * (create-only, before the conditional PUT, so a committed `current.json` never names a missing
 * part), and decodes stored bytes of either format back into the whole manifest. Parts are
 * immutable and named by the SHA-256 of their bytes: they are cached by that name for as long as
 * the bounded cache holds them, as plain data (never promises: Workers requests may share it).
 */
import { ManifestCorruptError } from '../errors.ts';
import { AmbiguousWriteError, isRejectedWrite, PreconditionFailedError, TransientStoreError } from '../store/errors.ts';
import type { ObjectStore } from '../store/types.ts';
import { decodeStored, encodeStored, stringifyManifest } from './codec.ts';
import type { ShardKeys } from './keys.ts';
import {
  DEFAULT_PART_SETTLE_MS,
  DEFAULT_RECENT_CHUNK,
  joinManifest,
  manifestPart,
  PART_FORMAT,
  partSummary,
  sameEntries,
  splitManifest,
  storedOf,
  type Layout,
  type ManifestPart,
  type PartRef,
  type PartSlot,
} from './parts.ts';
import type { DeepReadonly, ShardManifest } from './schema.ts';

export interface ManifestPartsOptions {
  readonly store: ObjectStore;
  readonly keys: Pick<ShardKeys, 'part'>;
  readonly shard: number;
  /** An entry goes into its month's part once its UTC day ended this long before the commit (default 1 day). */
  readonly settleMs?: number;
  /** Unsettled raw segment entries per `recent-<k>` part (default 256; 0: all stay inline, format 2). */
  readonly recentChunk?: number;
  /** Bytes of part objects kept decoded in memory (default 16 MiB; parts the cached manifest names stay in memory through it anyway). */
  readonly cacheBytes?: number;
}

export interface PartStats {
  /** Part objects written (created) by this instance. */
  written: number;
  /** Part objects read from the store (cache misses). */
  fetched: number;
}

const DEFAULT_CACHE_BYTES = 16 * 1024 * 1024;
const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  let s = '';
  for (const b of d) s += b.toString(16).padStart(2, '0');
  return s;
}

export class ManifestParts {
  readonly stats: PartStats = { written: 0, fetched: 0 };
  private readonly store: ObjectStore;
  private readonly keys: Pick<ShardKeys, 'part'>;
  private readonly shard: number;
  private readonly settleMs: number;
  private readonly recentChunk: number;
  private readonly cacheBytes: number;
  /** Decoded parts by hash, least recently used first (a Map keeps insertion order). */
  private readonly cache = new Map<string, { readonly part: DeepReadonly<ManifestPart>; readonly bytes: number }>();
  private cachedBytes = 0;
  /** How each manifest this instance encoded or decoded was split: what its successor can reuse. */
  private readonly layouts = new WeakMap<object, Layout>();

  constructor(opts: ManifestPartsOptions) {
    this.store = opts.store;
    this.keys = opts.keys;
    this.shard = opts.shard;
    this.settleMs = opts.settleMs ?? DEFAULT_PART_SETTLE_MS;
    this.recentChunk = opts.recentChunk ?? DEFAULT_RECENT_CHUNK;
    this.cacheBytes = opts.cacheBytes ?? DEFAULT_CACHE_BYTES;
  }

  /**
   * The bytes of `current.json` for `m`, after storing every part it names that `base` (the
   * state it was built on, when known) did not: a settled month whose entries are exactly the
   * base's part is not rewritten.
   */
  async encode(m: DeepReadonly<ShardManifest>, base?: DeepReadonly<ShardManifest>): Promise<Uint8Array> {
    const split = splitManifest(m, this.settleMs, this.recentChunk);
    const baseSlots = new Map((base === undefined ? undefined : this.layouts.get(base))?.parts.map((p) => [p.month, p]));
    const created: PartSlot[] = [];
    await Promise.all(
      split.layout.parts.map(async (slot) => {
        const prior = baseSlots.get(slot.month);
        if (prior?.ref !== undefined && sameEntries(slot, prior)) {
          slot.ref = prior.ref;
          return;
        }
        const part: ManifestPart = {
          format: PART_FORMAT,
          shard: this.shard,
          month: slot.month,
          created_by: m.commit_id,
          segments: slot.segments as ManifestPart['segments'],
          rollups: slot.rollups as ManifestPart['rollups'],
        };
        const body = enc.encode(stringifyManifest(part));
        slot.ref = { hash: await sha256Hex(body), bytes: body.byteLength, ...partSummary(slot) };
        slot.body = body;
        created.push(slot);
      }),
    );
    await Promise.all(created.map((slot) => this.writePart(slot, m.commit_id)));
    const body = encodeStored(storedOf(m, split));
    this.layouts.set(m, split.layout);
    return body;
  }

  /** A stored manifest of either format as the whole manifest, its parts read (or cached). */
  async decode(bytes: Uint8Array, where: string): Promise<ShardManifest> {
    const body = decodeStored(bytes, where);
    if (body.kind === 'whole') return body.manifest;
    const parts = await Promise.all(body.stored.parts.map((ref) => this.part(ref, where)));
    try {
      const { manifest, layout } = joinManifest(body.stored, parts);
      this.layouts.set(manifest, layout);
      return manifest;
    } catch (err) {
      throw new ManifestCorruptError(`${where}: its parts do not fit it (${(err as Error).message}); the shard refuses writes until it is restored`, {
        cause: err,
      });
    }
  }

  /** The part keys a manifest this instance encoded or decoded names, or undefined when it does not know. */
  partKeysOf(m: DeepReadonly<ShardManifest>): string[] | undefined {
    return this.layouts.get(m)?.parts.map((p) => this.keys.part(p.ref!.hash));
  }

  /** The part keys stored manifest bytes name (none for a format-1 body). */
  partKeysOfBody(bytes: Uint8Array, where: string): string[] {
    const body = decodeStored(bytes, where);
    return body.kind === 'whole' ? [] : body.stored.parts.map((p) => this.keys.part(p.hash));
  }

  // ---- internals ----

  /** Creates a part object (create-only; one already stored under its hash is the same bytes). */
  private async writePart(slot: PartSlot, createdBy: string): Promise<void> {
    const key = this.keys.part(slot.ref!.hash);
    for (let tries = 1; ; tries++) {
      try {
        await this.store.put(key, slot.body!, { ifNoneMatch: '*', contentType: 'application/json' });
        this.stats.written++;
        break;
      } catch (err) {
        if (err instanceof PreconditionFailedError) break; // already stored: same name, same bytes
        // A 409 (another conditional write to this key in flight: our own earlier try, which may
        // still fail), a 404, or an outcome we do not know: the part is stored only if a read
        // says so. current.json must never name a part that is not there.
        if (!(isRejectedWrite(err) || err instanceof AmbiguousWriteError || err instanceof TransientStoreError)) throw err;
        if (await this.holds(key, slot.body!)) break;
        if (tries >= 3) throw err;
      }
    }
    const part: DeepReadonly<ManifestPart> = {
      format: PART_FORMAT,
      shard: this.shard,
      month: slot.month,
      created_by: createdBy,
      segments: slot.segments,
      rollups: slot.rollups,
    };
    this.remember(slot.ref!.hash, part, slot.body!.byteLength);
  }
  /** Whether `key` holds exactly `body` now (a failed read answers no). */
  private async holds(key: string, body: Uint8Array): Promise<boolean> {
    try {
      const res = await this.store.get(key);
      if (res === null || res.notModified || res.body.byteLength !== body.byteLength) return false;
      for (let i = 0; i < body.byteLength; i++) if (res.body[i] !== body[i]) return false;
      return true;
    } catch {
      return false;
    }
  }

  /** One part, from the cache or the store, checked against its address and reference. */
  private async part(ref: PartRef, where: string): Promise<DeepReadonly<ManifestPart>> {
    const hit = this.cache.get(ref.hash);
    if (hit !== undefined) {
      this.cache.delete(ref.hash);
      this.cache.set(ref.hash, hit);
      return hit.part;
    }
    const key = this.keys.part(ref.hash);
    const res = await this.store.get(key);
    if (res === null || res.notModified) throw new ManifestCorruptError(`${where} names part ${key}, which is missing; restore a generation from history`);
    this.stats.fetched++;
    if ((await sha256Hex(res.body)) !== ref.hash) throw new ManifestCorruptError(`${key} does not hash to its name`);
    let raw: unknown;
    try {
      raw = JSON.parse(dec.decode(res.body));
    } catch (err) {
      throw new ManifestCorruptError(`${key} is not valid JSON`, { cause: err });
    }
    const parsed = manifestPart.safeParse(raw);
    if (!parsed.success) throw new ManifestCorruptError(`${key} fails the part schema at ${parsed.error.issues[0]?.path.join('.')}`);
    const p = parsed.data;
    if (p.shard !== this.shard || p.month !== ref.month || p.segments.length !== ref.segments || p.rollups.length !== ref.rollups) {
      throw new ManifestCorruptError(`${key} is not the part ${where} describes`);
    }
    const part = freeze(p);
    this.remember(ref.hash, part, res.body.byteLength);
    return part;
  }

  private remember(hash: string, part: DeepReadonly<ManifestPart>, bytes: number): void {
    freeze(part);
    const old = this.cache.get(hash);
    if (old !== undefined) {
      this.cache.delete(hash);
      this.cachedBytes -= old.bytes;
    }
    this.cache.set(hash, { part, bytes });
    this.cachedBytes += bytes;
    for (const [h, e] of this.cache) {
      if (this.cachedBytes <= this.cacheBytes || h === hash) break;
      this.cache.delete(h);
      this.cachedBytes -= e.bytes;
    }
  }
}

function freeze<T>(value: T): DeepReadonly<T> {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) freeze(v);
  }
  return value as DeepReadonly<T>;
}
