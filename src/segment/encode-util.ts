/** Small helpers shared by the raw and rollup segment encoders. */
import { SET_CAP } from './raw-format.ts';
import { ByteWriter } from './varint.ts';

/** A stats value set: `null` ("any") above SET_CAP distinct values, never truncated. */
export function cappedSet(values: readonly string[]): string[] | null {
  return values.length > SET_CAP ? null : values.slice();
}

/** One column body written by `fill` into a fresh writer. */
export function column(capacity: number, fill: (w: ByteWriter) => void): Uint8Array {
  const w = new ByteWriter(capacity);
  fill(w);
  return w.finish();
}
