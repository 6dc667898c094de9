/**
 * A writer that runs for a long time (a Node server for weeks) keeps what it remembers about
 * segments bounded by what the manifest lists: ids of segments compaction replaced are forgotten,
 * and dedupe still answers every retry of an acknowledged event.
 */
import { describe, expect, it } from 'vitest';
import { runJob } from '../../src/jobs/run.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { usage } from '../support/fixtures.ts';
import { openInstance, postBatch } from '../support/instance.ts';

const ts = Date.UTC(2026, 8, 3, 9);
const event = (i: number) => usage(i, { event_id: `ev-${i}`, account_id: `acct-${i % 37}`, timestamp_ms: ts + i * 1000, quantity: 1 + (i % 5) });

describe('a long-running shard writer', () => {
  it('holds one segment id per listed segment across compactions, and still answers every retry as a duplicate', async () => {
    const store = new MemoryStore();
    const a = await openInstance(store, 'lr', { shards: 1, buckets: 4 });
    const FAST = { compact: { graceMs: 0 }, gc: { safetyAgeMs: 0 } };
    let next = 0;
    for (let cycle = 0; cycle < 6; cycle++) {
      for (let b = 0; b < 30; b++) {
        const batch = Array.from({ length: 5 }, () => event(next++));
        expect((await postBatch(a.app, batch)).body).toMatchObject({ accepted: 5 });
      }
      expect((await runJob(a.db, 'compact', FAST)).results[0]).toMatchObject({ committed: true });
    }
    // One more ingest reads the newest manifest.
    expect((await postBatch(a.app, [event(next++)])).body).toMatchObject({ accepted: 1 });
    const m = (await a.db.shards[0]!.revalidate()).manifest;
    const listed = m.segments.length + m.quarantine.length;
    const remembered = a.ingestor.writer(0).index.loadedSegments.size;
    // 181 segments were written; far fewer are listed after compaction.
    expect(listed).toBeLessThan(40);
    expect(remembered).toBeLessThanOrEqual(2 * (listed + 1) + 64);
    // Every earlier event, sent again: all duplicates, nothing counted twice.
    for (let i = 0; i < next; i += 100) {
      const batch = Array.from({ length: Math.min(100, next - i) }, (_, j) => event(i + j));
      expect((await postBatch(a.app, batch)).body).toMatchObject({ accepted: 0, duplicates: batch.length });
    }
  });
});
