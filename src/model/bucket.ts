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
