/**
 * The raw segment codec's public surface: encode events into a checksummed columnar segment
 * plus its hashes block, decode columns (partially) and events back. Importers use this module,
 * never the internals; it has no runtime dependencies (runs unchanged in Node and workerd).
 */
export { encodeRawSegment, type EncodeRawOptions } from './raw-encode.ts';
export { decodeRawSegment, rawColumnsToEvents, rawQuantity, rowFields, type DecodeRawOptions } from './raw-decode.ts';
export {
  decodeSegmentHashes,
  encodeSegmentHashes,
  EventHasher,
  eventKey,
  HASH_WORDS,
  hashesBlockLength,
  ingestedSecond,
  isVersion1,
  KEY2_MASK,
  payloadHash,
  type SegmentHashes,
  type SegmentHashesV1,
} from './hashes.ts';
export { crc32Hex } from './crc32.ts';
export {
  cutRawGroups,
  decodeRawGroups,
  decodeRawObject,
  encodeGroupedRawSegment,
  joinRawColumns,
  rawDirectoryBytesOf,
  rawDirectoryOf,
  rawGroupsExtentOf,
  type EncodeGroupedRawOptions,
  type EncodedGroupedRawSegment,
} from './raw-groups.ts';
export { decodeGroupDirectory, groupsOfAccount, groupsRange, splitGroups, type GroupDirectory, type RowGroup } from './row-groups.ts';
export {
  decodeKeyFilter,
  decodePages,
  encodeKeyFilter,
  filterAfterHashes,
  filterBlockBytes,
  filterBlockLength,
  isFilterBlock,
  KeyFilter,
  pageRange,
  pagesFor,
  type HashRow,
  type KeyFilterBlock,
} from './key-filter.ts';
export { SegmentCorruptError } from './errors.ts';
export { containerLength as segmentContainerLength, type DeflateLevel } from './container.ts';
export {
  ID_COLUMNS,
  KIND_CORRECTION,
  KIND_RETRACTION,
  KIND_USAGE,
  RAW_COLUMN_NAMES,
  RAW_MAGIC,
  RAW_VERSION_LEAN,
  SET_CAP,
  type DictColumn,
  type DimensionsColumn,
  type EncodedRawSegment,
  type RawColumnName,
  type RawColumns,
  type RawSegmentStats,
} from './raw-format.ts';
