/**
 * The one error segment codecs throw for bad bytes (checksum, truncation, magic, version, layout).
 * A decoder must throw this rather than ever return data it could not verify.
 */
import { UsageDbError } from '../errors.ts';

export class SegmentCorruptError extends UsageDbError {
  readonly code = 'segment_corrupt';
  readonly kind = 'fatal';
}
