/**
 * The gzip members history objects are stored as: standard gzip both ways (node's zlib reads
 * what `gzip` writes and `gunzip` reads node's), and anything damaged is refused, never
 * returned short or altered.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { fflateDeflate, setDeflate, deflateImpl } from '../../src/segment/deflate.ts';
import { gunzip, gzip, isGzip } from '../../src/segment/gzip.ts';

const enc = new TextEncoder();
const json = enc.encode(JSON.stringify({ format: 1, edits: Array.from({ length: 300 }, (_, i) => ({ op: 'addRawSegments', id: `seg-${i}` })) }));

describe('gzip members', () => {
  it('round-trips and interoperates with zlib, on every installed DEFLATE implementation', () => {
    const installed = deflateImpl();
    try {
      for (const impl of [installed, fflateDeflate]) {
        setDeflate(impl);
        const z = gzip(json);
        expect(isGzip(z)).toBe(true);
        expect(z.length).toBeLessThan(json.length / 4);
        expect(new Uint8Array(gunzipSync(z))).toEqual(json);
        expect(gunzip(z)).toEqual(json);
        expect(gunzip(new Uint8Array(gzipSync(json)))).toEqual(json);
        expect(gunzip(gzip(new Uint8Array(0)))).toEqual(new Uint8Array(0));
      }
    } finally {
      setDeflate(installed);
    }
  });

  it('plain JSON is not taken for gzip', () => {
    expect(isGzip(json)).toBe(false);
    expect(isGzip(new Uint8Array([0x1f]))).toBe(false);
  });

  it('refuses a flipped byte, a truncated member, a wrong length and a header with optional fields', () => {
    const z = gzip(json);
    const at = (i: number, f: (b: number) => number) => {
      const c = new Uint8Array(z);
      c[i] = f(c[i]!);
      return c;
    };
    expect(() => gunzip(at(z.length - 8, (b) => b ^ 1))).toThrow(/CRC-32/);
    expect(() => gunzip(at(z.length - 4, (b) => b ^ 1))).toThrow(RangeError);
    expect(() => gunzip(at(3, () => 8))).toThrow(/optional fields/);
    expect(() => gunzip(z.subarray(0, z.length - 20))).toThrow(RangeError);
    expect(() => gunzip(z.subarray(0, 12))).toThrow(RangeError);
    const huge = new Uint8Array(z);
    new DataView(huge.buffer).setUint32(huge.length - 4, 0xffffffff, true);
    expect(() => gunzip(huge)).toThrow(/more than/);
  });
});
