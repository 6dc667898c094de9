/**
 * A shard's history in the store: writes each committed generation's edit record (and, when
 * due, a full checkpoint), and rebuilds any generation from the nearest full copy at or before
 * it plus the records after it, verified against the digest each record carries. Full copies
 * written before incremental history are checkpoints like any other. Best effort on the write
 * side (the commit already happened); on the read side a gap or a mismatch is a typed error,
 * never a wrong manifest.
 */
import { HistoryIncompleteError, ManifestCorruptError, NotFoundError } from '../errors.ts';
import { AmbiguousWriteError, isRejectedWrite, TransientStoreError } from '../store/errors.ts';
import { isGzip } from '../segment/gzip.ts';
import type { ObjectStore } from '../store/types.ts';
import { decodeStored, encodeDraft } from './codec.ts';
import type { ManifestEdit } from './edits.ts';
import {
  decodeRecord,
  encodeRecord,
  isCheckpoint,
  mayBeCheckpoint,
  packHistory,
  recordOf,
  replay,
  restorableGenerations,
  verifyReplay,
  type CheckpointPolicy,
  type HistoryIndex,
  type HistoryRecord,
  unpackHistory,
} from './history.ts';
import type { ShardKeys } from './keys.ts';
import type { DeepReadonly, ShardManifest } from './schema.ts';

/**
 * The bytes of a full copy: the whole manifest (format 1), never a byte copy of current.json.
 * A copy that named parts would need them to outlive it, and a copy is written after its commit
 * (in the background): GC, which lists history once, could delete a part that only a copy landing
 * after its listing names, leaving that generation unrestorable. A whole copy names nothing.
 * Its size also sets the checkpoint interval, as before the split (history bytes per commit stay
 * about manifest bytes / interval).
 */
function wholeCopy(m: DeepReadonly<ShardManifest>): Uint8Array {
  return encodeDraft(m as ShardManifest);
}

/** The JSON of a stored full copy (gzip'd, or plain from an earlier build). */
function unpackCopy(bytes: Uint8Array, where: string): Uint8Array {
  try {
    return unpackHistory(bytes);
  } catch (err) {
    throw new ManifestCorruptError(`${where} is a damaged gzip member: ${(err as Error).message}`, { cause: err });
  }
}

/** One committed generation, as its committer knows it. */
export interface CommittedGeneration {
  /** The generation the edits were applied to. */
  readonly base: DeepReadonly<ShardManifest>;
  /** What was committed (generation = base + 1). */
  readonly value: DeepReadonly<ShardManifest>;
  /** Its stored bytes (current.json: recent entries and part references). */
  readonly body: Uint8Array;
  /** The edits that applied, in order. */
  readonly edits: readonly ManifestEdit[];
}

export interface ManifestHistoryOptions {
  readonly store: ObjectStore;
  readonly keys: ShardKeys;
  readonly shard: number;
  readonly checkpoints?: CheckpointPolicy;
  /** Stored manifest bytes (a full copy, a pending body) as the whole manifest, its parts read. */
  readonly decode: (bytes: Uint8Array, where: string) => Promise<ShardManifest>;
}

/** Records fetched at once while walking down a chain (a chain is at most maxEvery long). */
const PREFETCH = 16;

type Fetched = HistoryRecord | null | Error;

export class ManifestHistory {
  private readonly store: ObjectStore;
  private readonly keys: ShardKeys;
  private readonly shard: number;
  private readonly policy: CheckpointPolicy;
  private readonly decode: ManifestHistoryOptions['decode'];
  /**
   * Bodies of committed generations whose history is still being written in the background:
   * readers find them here (data, not promises, so any request may read them).
   */
  private readonly pending = new Map<number, Uint8Array>();
  /** A record of ours never landed: our next commit writes a checkpoint, so chains restart there. */
  private chainBroken = false;
  /** The newest generation this instance knows has its record or full copy stored. */
  private lastStored = 0;

  constructor(opts: ManifestHistoryOptions) {
    this.store = opts.store;
    this.keys = opts.keys;
    this.shard = opts.shard;
    this.policy = opts.checkpoints ?? {};
    this.decode = opts.decode;
  }

  /**
   * Writes a committed generation's record, and its full copy when one is due — or when the
   * generation before it has no history (its committer crashed after its PUT, or gave up on the
   * copy): otherwise every generation up to the next checkpoint would replay through that gap.
   * The check (two HEADs at most, skipped when this instance stored the base's history) runs
   * after our record is written, so a record still in flight from another instance has time to
   * land; a late one only costs a full copy more.
   */
  async write(c: CommittedGeneration): Promise<void> {
    const g = c.value.generation;
    let copy: Uint8Array | undefined;
    const whole = () => (copy ??= wholeCopy(c.value));
    const full = this.chainBroken || (mayBeCheckpoint(g, this.policy) && isCheckpoint(g, whole().byteLength, this.policy));
    const record = encodeRecord(recordOf(c.base, c.value, c.edits, full));
    const [recorded, copied] = await Promise.all([
      this.put(this.keys.historyRecord(g), record),
      full ? this.put(this.keys.history(g), packHistory(whole())) : false,
    ]);
    let chainStarts = copied;
    if (!full && recorded && g - 1 !== this.lastStored && !(await this.hasHistory(g - 1))) {
      chainStarts = await this.put(this.keys.history(g), packHistory(whole()));
    }
    if (chainStarts) this.chainBroken = false;
    else if (!recorded) this.chainBroken = true;
    if (recorded || chainStarts) this.lastStored = Math.max(this.lastStored, g);
  }

  /** Whether a generation's record or full copy is stored (or still being written by us). */
  private async hasHistory(generation: number): Promise<boolean> {
    if (generation < 1 || this.pending.has(generation)) return true;
    try {
      if ((await this.store.head(this.keys.historyRecord(generation))) !== null) return true;
      return (await this.store.head(this.keys.history(generation))) !== null;
    } catch {
      return false; // cannot tell: a full copy more is the safe side
    }
  }

  /** `write`, after the commit returned: readers of history find the body in memory meanwhile. */
  async writeLater(c: CommittedGeneration): Promise<void> {
    this.pending.set(c.value.generation, c.body);
    try {
      await this.write(c);
    } finally {
      this.pending.delete(c.value.generation);
    }
  }

  /** A full copy only: generation 1 (bootstrap) and generations written by restore, which have no edits. */
  async writeCheckpoint(m: DeepReadonly<ShardManifest>): Promise<void> {
    if (await this.put(this.keys.history(m.generation), packHistory(wholeCopy(m)))) {
      this.chainBroken = false;
      this.lastStored = Math.max(this.lastStored, m.generation);
    }
  }

  /** What `history/` holds by listing, with this instance's pending generations as full copies. */
  async index(): Promise<HistoryIndex> {
    const checkpoints = new Set<number>(this.pending.keys());
    const records = new Set<number>();
    let cursor: string | undefined;
    do {
      const page = await this.store.list(this.keys.historyPrefix, { cursor });
      for (const item of page.items) {
        const e = this.keys.historyEntry(item.key);
        if (e !== undefined) (e.kind === 'checkpoint' ? checkpoints : records).add(e.generation);
      }
      cursor = page.cursor;
    } while (cursor !== undefined);
    return { checkpoints, records };
  }

  /** Generations the listing says can be rebuilt, ascending. */
  async generations(): Promise<number[]> {
    return restorableGenerations(await this.index());
  }

  /** Generation `target` exactly as committed: NotFoundError, HistoryIncompleteError or HistoryMismatchError otherwise. */
  async read(target: number): Promise<ShardManifest> {
    const pending = this.pending.get(target);
    if (pending !== undefined) return this.decode(pending, this.keys.history(target));
    const { base, records } = await this.chainTo(target);
    let state = base;
    for (const r of records) state = replay(state, r);
    const last = records[records.length - 1];
    if (last !== undefined) {
      try {
        verifyReplay(state, last);
      } catch (err) {
        this.firstMismatch(base, records); // names the first generation that differs, when it is not the last
        throw err;
      }
    }
    return structuredClone(state) as ShardManifest;
  }

  /** Several generations, each replayed once per chain; an error in place of each that cannot be rebuilt. */
  async readMany(generations: readonly number[]): Promise<Map<number, ShardManifest | Error>> {
    const out = new Map<number, ShardManifest | Error>();
    const want = [...new Set(generations)].sort((a, b) => b - a);
    while (want.length > 0) {
      const top = want[0]!;
      const inChain = (g: number, from: number) => g >= from && g <= top;
      let from = top;
      try {
        const pending = this.pending.get(top);
        if (pending !== undefined) {
          out.set(top, await this.decode(pending, this.keys.history(top)));
        } else {
          const { base, records } = await this.chainTo(top);
          from = base.generation;
          let state = base;
          if (want.includes(from)) out.set(from, structuredClone(state) as ShardManifest);
          try {
            for (const r of records) {
              state = replay(state, r);
              if (!want.includes(r.generation)) continue;
              verifyReplay(state, r);
              out.set(r.generation, structuredClone(state) as ShardManifest);
            }
          } catch (err) {
            for (const g of want) if (inChain(g, from) && !out.has(g)) out.set(g, err as Error);
          }
        }
      } catch (err) {
        out.set(top, err as Error);
      }
      for (let i = want.length - 1; i >= 0; i--) if (out.has(want[i]!) || inChain(want[i]!, from)) want.splice(i, 1);
    }
    return out;
  }

  /** The stored record of a generation, or null when there is none. */
  async record(generation: number): Promise<HistoryRecord | null> {
    const key = this.keys.historyRecord(generation);
    const res = await this.store.get(key);
    if (res === null || res.notModified) return null;
    return decodeRecord(res.body, generation, key);
  }

  /** The commit id of a generation, from whatever history of it (or of the next one) is left. */
  async commitIdOf(generation: number): Promise<string | undefined> {
    const pending = this.pending.get(generation);
    if (pending !== undefined) {
      const body = decodeStored(pending, this.keys.history(generation));
      return body.kind === 'whole' ? body.manifest.commit_id : body.stored.commit_id;
    }
    const own = await this.record(generation).catch(() => null);
    if (own !== null) return own.commit_id;
    const full = await this.checkpoint(generation).catch(() => null);
    if (full !== null) return full.commit_id;
    return (await this.record(generation + 1).catch(() => null))?.base_commit_id;
  }

  // ---- internals ----

  /** A stored full copy of `generation`, or null when there is none; unreadable ones throw. */
  private async checkpoint(generation: number): Promise<ShardManifest | null> {
    const key = this.keys.history(generation);
    const res = await this.store.get(key);
    if (res === null || res.notModified) return null;
    // A whole copy names no parts; a format-2 copy of an earlier build does, and one of them gone
    // makes it unreadable (ManifestCorruptError).
    const m = await this.decode(unpackCopy(res.body, key), key);
    if (m.generation !== generation) throw new ManifestCorruptError(`${key} holds generation ${m.generation}`);
    return m;
  }

  /**
   * Walks down from `target` to the nearest readable full copy, collecting the records on the
   * way: the base to replay from and the records to apply, ascending. Records are fetched a few
   * at a time once the walk is past `target` (a legacy full copy costs one GET). A record says
   * whether its committer wrote a full copy, but a committer that found a gap below writes one
   * after its record: at a gap, the records already collected are searched for such a copy.
   */
  private async chainTo(target: number): Promise<{ base: DeepReadonly<ShardManifest>; records: HistoryRecord[] }> {
    const records: HistoryRecord[] = [];
    const fetched = new Map<number, Promise<Fetched>>();
    const fetch = (h: number) => this.record(h).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
    for (let g = target; g >= 1; g--) {
      const pending = this.pending.get(g);
      if (pending !== undefined) return { base: await this.decode(pending, this.keys.history(g)), records: records.reverse() };
      if (!fetched.has(g)) {
        const n = g === target ? 1 : PREFETCH;
        for (let h = g; h > Math.max(0, g - n); h--) fetched.set(h, fetch(h));
      }
      const rec = await fetched.get(g)!;
      fetched.delete(g);
      // An unreadable record is a gap; any other error (the store failing) ends the walk as it is.
      if (rec instanceof Error && !(rec instanceof HistoryIncompleteError)) throw rec;
      const usable = rec !== null && !(rec instanceof Error);
      if (usable && !rec.checkpoint) {
        records.push(rec);
        continue;
      }
      let corrupt: unknown;
      try {
        const full = await this.checkpoint(g);
        if (full !== null) return { base: full, records: records.reverse() };
      } catch (err) {
        if (!(err instanceof ManifestCorruptError)) throw err;
        corrupt = err;
      }
      if (usable) {
        records.push(rec); // its full copy never landed (or is unreadable): the chain goes on below
        continue;
      }
      if (g === target && rec === null && corrupt === undefined) throw new NotFoundError(`shard ${this.shard} has no history of generation ${g}`);
      // A gap: the lowest full copy written after its record (a chain repaired above the gap).
      const above = records.reverse();
      for (let i = 0; i < above.length; i++) {
        const full = await this.checkpoint(above[i]!.generation).catch(() => null);
        if (full !== null) return { base: full, records: above.slice(i + 1) };
      }
      const what =
        rec instanceof Error
          ? 'its record is unreadable'
          : corrupt !== undefined
            ? 'it has no record and its full copy is unreadable'
            : 'neither its record nor a full copy is stored';
      throw new HistoryIncompleteError(`shard ${this.shard}: generation ${target} cannot be rebuilt from history: generation ${g} is missing (${what})`, {
        cause: rec ?? corrupt,
        details: { generation: target, missing: [g] },
      });
    }
    throw new HistoryIncompleteError(`shard ${this.shard}: generation ${target} cannot be rebuilt from history: no full copy at or before it`, {
      details: { generation: target, missing: [0] },
    });
  }

  /** After a digest mismatch at the end of a chain: throws for the first generation that differs. */
  private firstMismatch(base: DeepReadonly<ShardManifest>, records: readonly HistoryRecord[]): void {
    let state = base;
    for (const r of records) {
      state = replay(state, r);
      verifyReplay(state, r);
    }
  }

  /** One history PUT, create-only, three tries: true when it is stored (by us or before us). */
  private async put(key: string, body: Uint8Array): Promise<boolean> {
    for (let tries = 1; tries <= 3; tries++) {
      try {
        await this.store.put(key, body, { ifNoneMatch: '*', contentType: isGzip(body) ? 'application/gzip' : 'application/json' });
        return true;
      } catch (err) {
        if (isRejectedWrite(err)) return true; // already there (our earlier try landed, answer lost)
        if (!(err instanceof AmbiguousWriteError || err instanceof TransientStoreError)) return false;
      }
    }
    return false;
  }
}
