import { gzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { bucketOf } from '../../src/model/bucket.ts';
import { decodeRawSegment, encodeRawSegment } from '../../src/segment/raw.ts';
import { realisticEvents } from './arbitraries.ts';

const buckets = (a: string) => bucketOf(a, 64);
const ndjson = (events: readonly object[]) =>
  events.map((e) => JSON.stringify(e, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).join('\n') + '\n';

describe('raw segment size', () => {
  const measure = (label: string, sequentialIds: boolean) => {
    const events = realisticEvents(10_000, 42, sequentialIds);
    const enc = encodeRawSegment(events, buckets);
    const gz = gzipSync(new TextEncoder().encode(ndjson(events)), { level: 6 });
    console.log(
      `${label}, 10,000 events: segment ${enc.bytes.length} B (${(enc.bytes.length / 1e4).toFixed(2)} B/event), ` +
        `gzip NDJSON ${gz.length} B (${(gz.length / 1e4).toFixed(2)} B/event), ratio ${(enc.bytes.length / gz.length).toFixed(3)}; ` +
        `hashes sidecar ${enc.hashes.length} B`,
    );
    return { segment: enc.bytes.length, gzip: gz.length };
  };

  it('is under half of gzipped NDJSON for a realistic batch (opaque account ids)', () => {
    const { segment, gzip } = measure('opaque ids', false);
    expect(segment).toBeLessThan(gzip / 2);
  }, 30_000);

  it('is under half of gzipped NDJSON with sequential account ids too (gzip-friendlier)', () => {
    const { segment, gzip } = measure('sequential ids', true);
    expect(segment).toBeLessThan(gzip / 2);
  }, 30_000);
});

describe('raw segment speed (printed, not asserted)', () => {
  it('encodes and decodes 100k events', () => {
    const events = realisticEvents(100_000, 7);
    encodeRawSegment(events, buckets); // warm up
    const encTimes: number[] = [];
    let bytes: Uint8Array = new Uint8Array(0);
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      bytes = encodeRawSegment(events, buckets).bytes;
      encTimes.push(performance.now() - t0);
    }
    const columns = ['account_id', 'quantity', 'timestamp_ms'] as const;
    const decTimes: number[] = [];
    for (let i = 0; i < 15; i++) {
      const t0 = performance.now();
      const cols = decodeRawSegment(bytes, { columns });
      decTimes.push(performance.now() - t0);
      expect(cols.rows).toBe(100_000);
    }
    const fullT0 = performance.now();
    decodeRawSegment(bytes);
    const fullMs = performance.now() - fullT0;
    const best = (xs: number[]) => Math.min(...xs);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(
      `encode 100k: best ${best(encTimes).toFixed(1)} ms = ${Math.round(1e5 / (best(encTimes) / 1000)).toLocaleString('en')} events/s; ` +
        `decode account_id+quantity+timestamp_ms: median ${median(decTimes).toFixed(2)} ms = ` +
        `${Math.round(1e5 / (median(decTimes) / 1000)).toLocaleString('en')} rows/s (best ${best(decTimes).toFixed(2)} ms); ` +
        `full decode ${fullMs.toFixed(1)} ms; segment ${bytes.length} B`,
    );
  }, 120_000);
});
