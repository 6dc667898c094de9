/**
 * How the S3 driver turns a GET's response body into bytes (src/store/s3.ts `bodyBytes`): with a
 * Content-Length, chunk by chunk into one array of that length as they arrive (not the SDK's
 * collect-then-concatenate, which holds every chunk until the end) — a Node stream in flowing
 * mode, another body through its async iterator; a body that disagrees with its length is an
 * error; without a length, or a body that cannot be iterated, the SDK's way.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { bodyBytes } from '../../src/store/s3.ts';

const bytes = (...xs: number[]) => new Uint8Array(xs);

/** An SDK-like body: async-iterable chunks, and a transformToByteArray that says whether it was used. */
function sdkBody(chunks: readonly Uint8Array[]) {
  const seen = { collected: false, handedOut: 0 };
  return {
    seen,
    async *[Symbol.asyncIterator]() {
      for (const c of chunks) {
        seen.handedOut++;
        yield c;
      }
    },
    async transformToByteArray() {
      seen.collected = true;
      const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
      let at = 0;
      for (const c of chunks) {
        out.set(c, at);
        at += c.byteLength;
      }
      return out;
    },
  };
}

describe('S3 response bodies', () => {
  it('copies the chunks into one array of the announced length, without the collect-then-concatenate path', async () => {
    const body = sdkBody([bytes(1, 2), bytes(3), bytes(4, 5, 6)]);
    const out = await bodyBytes(body, 6);
    expect([...out]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(out.byteLength).toBe(6);
    expect(body.seen).toEqual({ collected: false, handedOut: 3 });
  });

  it('refuses a body longer or shorter than its Content-Length', async () => {
    await expect(bodyBytes(sdkBody([bytes(1, 2), bytes(3)]), 2)).rejects.toThrow(/longer than its Content-Length/);
    await expect(bodyBytes(sdkBody([bytes(1)]), 2)).rejects.toThrow(/1 bytes, Content-Length said 2/);
  });

  it('an empty body with length 0 is an empty array', async () => {
    expect((await bodyBytes(sdkBody([]), 0)).byteLength).toBe(0);
  });

  it('reads a Node stream in flowing mode into one array, without collecting', async () => {
    let collected = false;
    const stream = Object.assign(Readable.from([Buffer.from([1, 2]), Buffer.from([3, 4, 5])], { objectMode: false }), {
      transformToByteArray: async () => {
        collected = true;
        return new Uint8Array();
      },
    });
    const out = await bodyBytes(stream, 5);
    expect([...out]).toEqual([1, 2, 3, 4, 5]);
    expect(collected).toBe(false);
    expect(stream.readableFlowing).toBe(true);
  });

  it('a Node stream that ends short, runs long, fails or closes early is an error', async () => {
    const sdk = <T extends object>(s: T) => Object.assign(s, { transformToByteArray: async () => new Uint8Array() });
    await expect(bodyBytes(sdk(Readable.from([Buffer.from([1])])), 2)).rejects.toThrow(/1 bytes, Content-Length said 2/);
    await expect(bodyBytes(sdk(Readable.from([Buffer.from([1, 2, 3])])), 2)).rejects.toThrow(/longer than its Content-Length/);
    const failing = new Readable({ read() {} });
    const p = bodyBytes(sdk(failing), 4);
    failing.push(Buffer.from([1]));
    failing.destroy(new Error('socket hang up'));
    await expect(p).rejects.toThrow(/socket hang up/);
    const closing = new Readable({ read() {} });
    const q = bodyBytes(sdk(closing), 4);
    closing.push(Buffer.from([1]));
    closing.destroy();
    await expect(q).rejects.toThrow(/1 bytes, Content-Length said 4/);
  });

  it('without a length, or a body that cannot be iterated, collects the SDK way', async () => {
    const unsized = sdkBody([bytes(7), bytes(8)]);
    expect([...(await bodyBytes(unsized, undefined))]).toEqual([7, 8]);
    expect(unsized.seen.collected).toBe(true);
    const opaque = { transformToByteArray: async () => bytes(9) };
    expect([...(await bodyBytes(opaque, 1))]).toEqual([9]);
  });
});
