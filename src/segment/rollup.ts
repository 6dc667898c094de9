/**
 * The rollup segment codec's public surface: encode hourly aggregates into a checksummed
 * columnar segment (merging duplicate group keys), decode columns (partially) and rows back.
 * Importers use this module, never the internals; it has no runtime dependencies (runs
 * unchanged in Node and workerd).
 */
export { encodeRollupSegment, type EncodeRollupOptions } from './rollup-encode.ts';
export { decodeRollupSegment, rollupColumnsToRows, rollupQuantity, type DecodeRollupOptions } from './rollup-decode.ts';
export { SegmentCorruptError } from './errors.ts';
export {
  cutRollupGroups,
  decodeRollupGroups,
  decodeRollupObject,
  encodeGroupedRollupSegment,
  rollupDirectoryBytesOf,
  rollupDirectoryOf,
  type EncodeGroupedRollupOptions,
  type EncodedGroupedRollupSegment,
} from './rollup-groups.ts';
export { decodeGroupDirectory, groupsOfAccount, groupsRange, splitGroups, type GroupDirectory, type RowGroup } from './row-groups.ts';
export {
  HOUR_MS,
  ROLLUP_COLUMN_NAMES,
  ROLLUP_QUANTITY_LIMIT,
  type EncodedRollupSegment,
  type RollupColumnName,
  type RollupColumns,
  type RollupRow,
  type RollupSegmentStats,
} from './rollup-format.ts';
