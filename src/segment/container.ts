/**
 * The checksummed column container shared by segment formats: magic, version, header length,
 * row count, a column directory, column bodies (each stored raw or deflated), CRC-32 + end magic.
 * Reading verifies the whole object before any column is trusted; it never returns unverified bytes.
 */
import { crc32 } from './crc32.ts';
import { deflateImpl } from './deflate.ts';
import { SegmentCorruptError } from './errors.ts';
import { ByteReader, ByteWriter } from './varint.ts';

export type DeflateLevel = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

export const CODEC_NONE = 0;
export const CODEC_DEFLATE = 1;
/** Deflated head + stored tail: varint head raw length, varint head stored length, head, tail. */
export const CODEC_DEFLATE_HEAD = 2;

export interface ColumnInput {
  readonly id: number;
  readonly raw: Uint8Array;
  /** Bytes at the end of `raw` known to be incompressible (random): stored as they are. */
  readonly incompressibleTail?: number;
}

export interface ContainerColumn {
  readonly id: number;
  /** Absolute offset of the stored bytes in the object. */
  readonly offset: number;
  readonly stored: number;
  readonly raw: number;
  readonly codec: number;
}

export interface Container {
  readonly bytes: Uint8Array;
  readonly version: number;
  readonly rows: number;
  readonly columns: ReadonlyMap<number, ContainerColumn>;
  /** The CRC-32 in the trailer (of every byte before it). */
  readonly crc: number;
}

const MAX_DEFLATE_RATIO = 1032;

/** Fixed prefix: magic (4) + version (1) + header length (4). */
const PREFIX = 9;
/** Trailer: CRC-32 (4) + end magic (4). */
const TRAILER = 8;

function ascii4(s: string): Uint8Array {
  if (s.length !== 4) throw new Error('magic must be 4 ASCII characters');
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) out[i] = s.charCodeAt(i);
  return out;
}

function matches(bytes: Uint8Array, at: number, magic: Uint8Array): boolean {
  for (let i = 0; i < 4; i++) if (bytes[at + i] !== magic[i]) return false;
  return true;
}

/** Writes the container. Columns are deflated at `level` unless that does not make them smaller. */
export function writeContainer(
  magic: string,
  endMagic: string,
  version: number,
  rows: number,
  columns: readonly ColumnInput[],
  level: number,
): { bytes: Uint8Array; crc: number } {
  if (!Number.isInteger(level) || level < 0 || level > 9) throw new RangeError(`deflate level must be 0..9, got ${level}`);
  const stored: { body: Uint8Array; codec: number }[] = [];
  for (const c of columns) stored.push(compress(c, level as DeflateLevel));
  const head = new ByteWriter(64 + columns.length * 16);
  head.bytes(ascii4(magic));
  head.u8(version);
  head.u32le(0); // header length, patched below
  head.varUint(rows);
  head.varUint(columns.length);
  let offset = 0;
  for (let i = 0; i < columns.length; i++) {
    const s = stored[i]!;
    head.varUint(columns[i]!.id);
    head.varUint(offset);
    head.varUint(s.body.length);
    head.varUint(columns[i]!.raw.length);
    head.u8(s.codec);
    offset += s.body.length;
  }
  const headerLen = head.pos;
  const total = headerLen + offset + TRAILER;
  const out = new Uint8Array(total);
  out.set(head.finish(), 0);
  new DataView(out.buffer).setUint32(5, headerLen, true);
  let at = headerLen;
  for (const s of stored) {
    out.set(s.body, at);
    at += s.body.length;
  }
  const crc = crc32(out, 0, at);
  new DataView(out.buffer).setUint32(at, crc, true);
  out.set(ascii4(endMagic), at + 4);
  return { bytes: out, crc };
}

/** The smallest of: stored, deflated, deflated head + stored tail. */
function compress(c: ColumnInput, level: DeflateLevel): { body: Uint8Array; codec: number } {
  const raw = c.raw;
  const tail = Math.min(c.incompressibleTail ?? 0, raw.length);
  if (level === 0 || raw.length <= 16) return { body: raw, codec: CODEC_NONE };
  if (tail === 0) {
    const z = deflateImpl().deflateRaw(raw, level);
    return z.length < raw.length ? { body: z, codec: CODEC_DEFLATE } : { body: raw, codec: CODEC_NONE };
  }
  const headRaw = raw.length - tail;
  const z = deflateImpl().deflateRaw(raw.subarray(0, headRaw), level);
  const w = new ByteWriter(z.length + tail + 16);
  w.varUint(headRaw);
  w.varUint(z.length);
  w.bytes(z);
  w.bytes(raw.subarray(headRaw));
  const body = w.finish();
  return body.length < raw.length ? { body, codec: CODEC_DEFLATE_HEAD } : { body: raw, codec: CODEC_NONE };
}

function corrupt(msg: string): SegmentCorruptError {
  return new SegmentCorruptError(msg);
}

/**
 * Verifies magic, end magic, CRC, version and directory layout; `ids` are the column ids the
 * version requires (each exactly once, no others).
 */
export function readContainer(bytes: Uint8Array, magic: string, endMagic: string, version: number, ids: readonly number[]): Container {
  const kind = magic;
  if (!(bytes instanceof Uint8Array)) throw corrupt(`${kind}: not a byte array`);
  const len = bytes.length;
  if (len < PREFIX + 2 + TRAILER) throw corrupt(`${kind}: too short (${len} bytes)`);
  if (!matches(bytes, 0, ascii4(magic))) throw corrupt(`${kind}: bad magic`);
  if (!matches(bytes, len - 4, ascii4(endMagic))) throw corrupt(`${kind}: bad end magic (truncated?)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, len);
  const want = view.getUint32(len - TRAILER, true);
  const got = crc32(bytes, 0, len - TRAILER);
  if (want !== got) throw corrupt(`${kind}: checksum mismatch`);
  const v = bytes[4]!;
  if (v !== version) throw corrupt(`${kind}: unsupported format version ${v} (expected ${version})`);
  const headerLen = view.getUint32(5, true);
  if (headerLen < PREFIX + 2 || headerLen > len - TRAILER) throw corrupt(`${kind}: bad header length`);
  const r = new ByteReader(bytes, PREFIX, headerLen);
  const rows = r.varUint();
  const count = r.varUint();
  if (count !== ids.length) throw corrupt(`${kind}: ${count} columns, expected ${ids.length}`);
  const dataLen = len - TRAILER - headerLen;
  const columns = new Map<number, ContainerColumn>();
  let next = 0;
  for (let i = 0; i < count; i++) {
    const id = r.varUint();
    const offset = r.varUint();
    const stored = r.varUint();
    const raw = r.varUint();
    const codec = r.u8();
    if (!ids.includes(id) || columns.has(id)) throw corrupt(`${kind}: unexpected column id ${id}`);
    if (offset !== next || stored > dataLen - offset) throw corrupt(`${kind}: column ${id} out of place`);
    if (codec === CODEC_NONE ? raw !== stored : codec !== CODEC_DEFLATE && codec !== CODEC_DEFLATE_HEAD) {
      throw corrupt(`${kind}: column ${id} bad codec`);
    }
    // Deflate expands at most 1032:1, so a larger raw length can only be corruption.
    if (raw > stored * MAX_DEFLATE_RATIO + 1024) throw corrupt(`${kind}: column ${id} raw length impossible`);
    columns.set(id, { id, offset: headerLen + offset, stored, raw, codec });
    next = offset + stored;
  }
  r.expectEnd(`${kind} header`);
  if (next !== dataLen) throw corrupt(`${kind}: columns do not fill the body`);
  return { bytes, version: v, rows, columns, crc: got };
}

/**
 * The length of the container that starts at byte 0 of `bytes`, from its header alone (for an
 * object that carries more after the container). Throws a corruption error on a bad header;
 * the container itself is verified only by readContainer.
 */
export function containerLength(bytes: Uint8Array, magic: string): number {
  if (bytes.length < PREFIX + 2 + TRAILER || !matches(bytes, 0, ascii4(magic))) throw corrupt(`${magic}: bad magic`);
  const headerLen = new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getUint32(5, true);
  if (headerLen < PREFIX + 2 || headerLen > bytes.length - TRAILER) throw corrupt(`${magic}: bad header length`);
  const r = new ByteReader(bytes, PREFIX, headerLen);
  r.varUint(); // rows
  const count = r.varUint();
  let end = 0;
  for (let i = 0; i < count; i++) {
    r.varUint(); // id
    const offset = r.varUint();
    const stored = r.varUint();
    r.varUint(); // raw
    r.u8(); // codec
    end = Math.max(end, offset + stored);
  }
  return headerLen + end + TRAILER;
}

/** The raw (decompressed) bytes of one column of a verified container. */
export function columnBytes(c: Container, id: number): Uint8Array {
  const col = c.columns.get(id);
  if (col === undefined) throw corrupt(`column ${id} missing`);
  const body = c.bytes.subarray(col.offset, col.offset + col.stored);
  if (col.codec === CODEC_NONE) return body;
  if (col.codec === CODEC_DEFLATE) return inflateExact(body, col.raw, id);
  const r = new ByteReader(body);
  const headRaw = r.varUint();
  const head = r.bytes(r.varUint());
  if (headRaw > col.raw || r.remaining() !== col.raw - headRaw) throw corrupt(`column ${id}: bad head/tail split`);
  const out = new Uint8Array(col.raw);
  out.set(inflateExact(head, headRaw, id), 0);
  out.set(body.subarray(r.pos), headRaw);
  return out;
}

/** Inflates a column's stream, which must give exactly `rawLength` bytes. */
function inflateExact(z: Uint8Array, rawLength: number, id: number): Uint8Array {
  let got: Uint8Array;
  try {
    got = deflateImpl().inflateRaw(z, rawLength);
  } catch (cause) {
    throw new SegmentCorruptError(`column ${id}: deflate stream is invalid`, { cause });
  }
  if (got.length !== rawLength) throw corrupt(`column ${id}: inflated to ${got.length} bytes, expected ${rawLength}`);
  return got;
}
