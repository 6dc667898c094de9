/**
 * account → bucket → shard: the one function every layer uses to place an account. Buckets are
 * fixed at database creation; each shard owns a contiguous range of buckets.
 */
import { hashString128 } from './hash.ts';

export interface Layout {
  readonly shardCount: number;
  readonly bucketCount: number;
}

export function bucketOf(accountId: string, bucketCount: number): number {
  return hashString128(accountId)[0]! % bucketCount;
}

export function shardOfBucket(bucket: number, layout: Layout): number {
  return Math.floor((bucket * layout.shardCount) / layout.bucketCount);
}

export function shardOfAccount(accountId: string, layout: Layout): number {
  return shardOfBucket(bucketOf(accountId, layout.bucketCount), layout);
}

/** The buckets shard `shard` owns, as a half-open range. */
export function bucketsOfShard(shard: number, layout: Layout): { from: number; to: number } {
  const from = Math.ceil((shard * layout.bucketCount) / layout.shardCount);
  const to = Math.ceil(((shard + 1) * layout.bucketCount) / layout.shardCount);
  return { from, to };
}

/**
 * account → bucket with a bounded cache: accounts repeat (a few heavy users send most events), so
 * the hash is computed once per account, not once per event. Starts over when full.
 */
export class BucketCache {
  readonly bucketCount: number;
  private readonly cache = new Map<string, number>();
  private readonly max: number;

  constructor(bucketCount: number, max = 100_000) {
    this.bucketCount = bucketCount;
    this.max = max;
  }

  bucketOf(accountId: string): number {
    let bucket = this.cache.get(accountId);
    if (bucket === undefined) {
      bucket = bucketOf(accountId, this.bucketCount);
      if (this.cache.size >= this.max) this.cache.clear();
      this.cache.set(accountId, bucket);
    }
    return bucket;
  }
}

/** account → shard through a `BucketCache`. */
export class ShardPlacer {
  readonly layout: Layout;
  private readonly buckets: BucketCache;

  constructor(layout: Layout, max = 100_000) {
    this.layout = layout;
    this.buckets = new BucketCache(layout.bucketCount, max);
  }

  shardOf(accountId: string): number {
    return shardOfBucket(this.buckets.bucketOf(accountId), this.layout);
  }
}
