/**
 * Incremental history of a shard manifest, as data (design: docs/manifest-commit.md, "History"):
 * each generation's edit record (the edits its commit applied, the stamps it got and the digest
 * it must replay to) and the rule for periodic full checkpoints. Pure: it never reads or writes
 * the store (history-store.ts does) and never decides what a commit may do.
 */
import { z } from 'zod';
import { HistoryIncompleteError, HistoryMismatchError, UnsupportedFormatError } from '../errors.ts';
import { gunzip, gzip, isGzip } from '../segment/gzip.ts';
import { manifestDigest } from './digest.ts';
import { applyEdit, draftOf, manifestEdit, type ManifestEdit } from './edits.ts';
import { releasedKeys } from './references.ts';
import { RECENT_COMMITS, type DeepReadonly, type ShardManifest } from './schema.ts';

/** The record format this code reads and writes; a higher one is refused. */
export const HISTORY_RECORD_FORMAT = 1;

const int = z.number().int();

/** `history/<generation>.edits.json`: how generation `generation` was made from the one before. */
export const historyRecord = z.object({
  format: z.literal(HISTORY_RECORD_FORMAT),
  shard: int.nonnegative(),
  generation: int.positive(),
  /** The commit id of generation − 1: the state the edits apply to. */
  base_commit_id: z.string().min(1),
  commit_id: z.string().min(1),
  updated_at_ms: int,
  /** Whether the committer also wrote a full copy of this generation (a checkpoint). */
  checkpoint: z.boolean(),
  /** The edits the commit applied, in order (planners' results, never the planners). */
  edits: z.array(manifestEdit).min(1),
  /** Object keys generation − 1 named that this one no longer does (GC keeps them while restorable). */
  released: z.array(z.string()),
  /** `manifestDigest` of the committed manifest: a replay that differs is refused. */
  digest: z.string().regex(/^[0-9a-f]{32}$/),
});
export type HistoryRecord = z.infer<typeof historyRecord>;

/**
 * Stamps a draft as the commit after `base`: the one rule both a commit and a replay follow, so
 * a replay reproduces exactly what was committed.
 */
export function stampCommit(draft: ShardManifest, base: DeepReadonly<ShardManifest>, commitId: string, nowMs: number): void {
  draft.generation = base.generation + 1;
  draft.commit_id = commitId;
  draft.recent_commit_ids = [commitId, ...base.recent_commit_ids].slice(0, RECENT_COMMITS);
  draft.updated_at_ms = nowMs;
}

/** The record of a committed generation `next`, made from `base` by `edits`. */
export function recordOf(
  base: DeepReadonly<ShardManifest>,
  next: DeepReadonly<ShardManifest>,
  edits: readonly ManifestEdit[],
  checkpoint: boolean,
): HistoryRecord {
  return {
    format: HISTORY_RECORD_FORMAT,
    shard: next.shard,
    generation: next.generation,
    base_commit_id: base.commit_id,
    commit_id: next.commit_id,
    updated_at_ms: next.updated_at_ms,
    checkpoint,
    edits: edits as ManifestEdit[],
    released: releasedKeys(base, next),
    digest: manifestDigest(next),
  };
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export function encodeRecord(r: HistoryRecord): Uint8Array {
  return packHistory(enc.encode(JSON.stringify(r)));
}

/**
 * Below this, history JSON is stored plain: an ingest's record (one or a few segment entries,
 * ~1 KB) shrinks by less than half, and a DEFLATE call on every commit costs more than that is
 * worth (pure-JS DEFLATE on Workers: 0.2-0.3 ms a call here).
 */
export const HISTORY_GZIP_FROM = 2048;

/**
 * History objects (records and full copies) of HISTORY_GZIP_FROM bytes or more are stored as
 * gzip members of their JSON (`history/*.json` stays the name; `zcat` reads one): about 5x
 * fewer bytes for compaction's records and full copies. Plain JSON, as earlier builds wrote
 * it and small records still are, reads as before.
 */
export function packHistory(json: Uint8Array): Uint8Array {
  return json.length < HISTORY_GZIP_FROM ? json : gzip(json);
}

/** The JSON of a stored history object, gzip'd or plain; a RangeError when the gzip member is damaged. */
export function unpackHistory(bytes: Uint8Array): Uint8Array {
  return isGzip(bytes) ? gunzip(bytes) : bytes;
}

/** A stored record, validated; unreadable → HistoryIncompleteError naming its generation. */
export function decodeRecord(bytes: Uint8Array, generation: number, where: string): HistoryRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(dec.decode(unpackHistory(bytes)));
  } catch (err) {
    throw new HistoryIncompleteError(`${where} is not valid (gzip'd) JSON`, { cause: err, details: { missing: [generation] } });
  }
  const format = (raw as { format?: unknown } | null)?.format;
  if (typeof format === 'number' && format > HISTORY_RECORD_FORMAT) {
    throw new UnsupportedFormatError(`${where} has history format ${format}; this version reads format ${HISTORY_RECORD_FORMAT}. Upgrade usageDb.`);
  }
  const parsed = historyRecord.safeParse(raw);
  if (!parsed.success || parsed.data.generation !== generation) {
    const issue = parsed.success ? 'generation' : `${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`;
    throw new HistoryIncompleteError(`${where} is not a history record of generation ${generation} (${issue})`, { details: { missing: [generation] } });
  }
  return parsed.data;
}

/**
 * Generation `r.generation`, rebuilt from the generation before it: the record must continue
 * `base` (generation and commit id), and every edit must apply. The digest is checked by
 * `verifyReplay` (callers check it where they stop, not at every step). The result is frozen.
 */
export function replay(base: DeepReadonly<ShardManifest>, r: HistoryRecord): DeepReadonly<ShardManifest> {
  if (r.generation !== base.generation + 1 || r.base_commit_id !== base.commit_id) {
    throw new HistoryMismatchError(
      `shard ${base.shard}: the record of generation ${r.generation} continues commit ${r.base_commit_id}, not generation ${base.generation} (commit ${base.commit_id})`,
      { details: { generation: r.generation } },
    );
  }
  const draft = draftOf(base);
  for (const e of r.edits) {
    const res = applyEdit(draft, e);
    if (res.status !== 'applied') {
      throw new HistoryMismatchError(`shard ${base.shard}: replaying generation ${r.generation}, its ${e.op} edit no longer applies (${res.reason})`, {
        details: { generation: r.generation },
      });
    }
  }
  stampCommit(draft, base, r.commit_id, r.updated_at_ms);
  return freeze(draft);
}

/** Refuses a replayed generation whose digest is not the one its record says was committed. */
export function verifyReplay(state: DeepReadonly<ShardManifest>, r: HistoryRecord): void {
  const got = manifestDigest(state);
  if (got !== r.digest) {
    throw new HistoryMismatchError(`shard ${state.shard}: replaying generation ${r.generation} gives digest ${got}, but ${r.digest} was committed`, {
      details: { generation: r.generation },
    });
  }
}

/** When full copies are written, besides every generation's record. */
export interface CheckpointPolicy {
  /** A fixed interval in generations. Absent: the interval follows the manifest's size (below). */
  readonly every?: number;
  /** Checkpoint bytes per commit aimed at when the interval follows the size (default 4 KiB). */
  readonly bytesPerCommit?: number;
  /** The longest interval, a power of two (default 1,024): a restore replays at most this many records. */
  readonly maxEvery?: number;
}

export const DEFAULT_CHECKPOINTS = { bytesPerCommit: 4096, maxEvery: 1024 } as const;
/** Below this, a record and a checkpoint at every commit would double the PUTs for little gain. */
const MIN_EVERY = 16;

/**
 * The checkpoint interval for a manifest of `bytes`: a power of two near bytes ÷ bytesPerCommit,
 * between 16 and maxEvery. Powers of two keep chains bounded while the size (and so the interval)
 * changes: every multiple of maxEvery is a checkpoint whatever the size.
 */
export function checkpointInterval(bytes: number, policy: CheckpointPolicy = {}): number {
  if (policy.every !== undefined) return Math.max(1, Math.floor(policy.every));
  const max = policy.maxEvery ?? DEFAULT_CHECKPOINTS.maxEvery;
  const target = Math.max(1, bytes / (policy.bytesPerCommit ?? DEFAULT_CHECKPOINTS.bytesPerCommit));
  return Math.min(max, Math.max(MIN_EVERY, 2 ** Math.round(Math.log2(target))));
}

/** False when no manifest size makes `generation` a checkpoint (so its size need not be known). */
export function mayBeCheckpoint(generation: number, policy: CheckpointPolicy = {}): boolean {
  return policy.every !== undefined || generation === 1 || generation % MIN_EVERY === 0;
}

/** Whether the committer of `generation` (a manifest of `bytes`) writes a full copy too. */
export function isCheckpoint(generation: number, bytes: number, policy: CheckpointPolicy = {}): boolean {
  return generation === 1 || generation % checkpointInterval(bytes, policy) === 0;
}

/** What a listing of `history/` shows: generations with a full copy, with a record. */
export interface HistoryIndex {
  readonly checkpoints: ReadonlySet<number>;
  readonly records: ReadonlySet<number>;
}

/**
 * Generations the listing says can be rebuilt, ascending: a full copy, or a record whose chain
 * of records reaches a full copy. (A stored object may still turn out unreadable.)
 */
export function restorableGenerations(index: HistoryIndex): number[] {
  const all = [...new Set([...index.checkpoints, ...index.records])].sort((a, b) => a - b);
  const ok = new Set<number>();
  for (const g of all) if (index.checkpoints.has(g) || (index.records.has(g) && ok.has(g - 1))) ok.add(g);
  return all.filter((g) => ok.has(g));
}

/**
 * The history objects generation `target` needs, by the listing: its chain of records down to
 * the nearest full copy. `complete` is false when a record is missing before one is reached.
 */
export function chainOf(index: HistoryIndex, target: number): { checkpoint: number | undefined; records: number[] } {
  const records: number[] = [];
  for (let g = target; g >= 1; g--) {
    if (index.checkpoints.has(g)) return { checkpoint: g, records: records.reverse() };
    if (!index.records.has(g)) break;
    records.push(g);
  }
  return { checkpoint: undefined, records: records.reverse() };
}

function freeze<T>(value: T): DeepReadonly<T> {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) freeze(v);
  }
  return value as DeepReadonly<T>;
}
