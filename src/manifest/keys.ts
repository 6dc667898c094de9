/** Object keys of the layout in design.md ("Object layout"). Keys carry no meaning the manifests lack. */

export function joinKey(prefix: string, rest: string): string {
  const p = prefix.replace(/\/+$/, '');
  return p === '' ? rest : `${p}/${rest}`;
}

export function shardName(shard: number, shardCount: number): string {
  return String(shard).padStart(Math.max(2, String(shardCount - 1).length), '0');
}

export class ShardKeys {
  readonly dir: string;
  constructor(prefix: string, shard: number, shardCount: number) {
    this.dir = joinKey(prefix, `shards/${shardName(shard, shardCount)}`);
  }
  get current(): string {
    return `${this.dir}/manifest/current.json`;
  }
  get historyPrefix(): string {
    return `${this.dir}/manifest/history/`;
  }
  /** A full copy of a generation: a checkpoint (and every history object before incremental history). */
  history(generation: number): string {
    return `${this.historyPrefix}${String(generation).padStart(12, '0')}.json`;
  }
  /** The edit record of a generation: how it was made from the one before. */
  historyRecord(generation: number): string {
    return `${this.historyPrefix}${String(generation).padStart(12, '0')}.edits.json`;
  }
  /** What a key under `historyPrefix` holds, or undefined for a key that is neither. */
  historyEntry(key: string): { generation: number; kind: 'checkpoint' | 'record' } | undefined {
    if (!key.startsWith(this.historyPrefix)) return undefined;
    const m = /^(\d+)\.(edits\.)?json$/.exec(key.slice(this.historyPrefix.length));
    if (m?.[1] === undefined) return undefined;
    return { generation: Number(m[1]), kind: m[2] === undefined ? 'checkpoint' : 'record' };
  }
  get partsPrefix(): string {
    return `${this.dir}/manifest/parts/`;
  }
  /** An immutable manifest part, named by the SHA-256 of its bytes. */
  part(hash: string): string {
    return `${this.partsPrefix}${hash}.json`;
  }
  /**
   * Which Node process commits this shard for the others (ingest/shard-lease.ts): a hint for
   * routing only, never a commit point; rewritten in place, never collected by GC.
   */
  get lease(): string {
    return `${this.dir}/lease.json`;
  }
  rawSegment(id: string): string {
    return `${this.dir}/segments/raw/${id}.useg`;
  }
  frozenPeriod(id: string): string {
    return `${this.dir}/periods/${id}.json`;
  }
  rollupSegment(id: string): string {
    return `${this.dir}/segments/rollup/${id}.rseg`;
  }
}

export const dbInfoKey = (prefix: string): string => joinKey(prefix, 'db.json');
export const scratchPrefix = (prefix: string): string => joinKey(prefix, '_scratch');
