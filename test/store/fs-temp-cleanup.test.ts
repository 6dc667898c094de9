/**
 * Issue 16 item 15: the fs store removes temp files left by crashed writes (older than its safety
 * age) on first use, and leaves recent ones (another live process may be writing them) and the
 * objects alone.
 */
import { mkdirSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TEMP_SAFETY_AGE_MS, FsStore } from '../../src/store/fs.ts';

const enc = new TextEncoder();

/** A data directory as a crashed process leaves it: temp files of the given ages (ms). */
function plant(ages: Record<string, number>): string {
  const root = mkdtempSync(join(tmpdir(), 'usagedb-fs-tmp-'));
  mkdirSync(join(root, '.tmp'), { recursive: true });
  const now = Date.now();
  for (const [name, age] of Object.entries(ages)) {
    const path = join(root, '.tmp', name);
    writeFileSync(path, name.startsWith('empty') ? '' : 'partial segment bytes');
    const t = new Date(now - age);
    utimesSync(path, t, t);
  }
  return root;
}

const tmpFiles = (root: string) => readdirSync(join(root, '.tmp')).sort();

describe('fs store: temp files of crashed writes', () => {
  it('removes temp files older than 10 minutes on first use and keeps recent ones', async () => {
    const root = plant({
      'empty-old.tmp': DEFAULT_TEMP_SAFETY_AGE_MS + 60_000,
      'partial-old.tmp': 3 * 86_400_000,
      'empty-recent.tmp': 1_000,
      'partial-recent.tmp': DEFAULT_TEMP_SAFETY_AGE_MS - 60_000,
    });
    const store = new FsStore({ root });
    expect(tmpFiles(root)).toHaveLength(4); // construction alone touches nothing
    await store.put('a/b', enc.encode('x'));
    expect(store.staleTempFilesRemoved).toBe(2);
    expect(tmpFiles(root)).toEqual(['empty-recent.tmp', 'partial-recent.tmp']);
    const got = await store.get('a/b');
    expect(got !== null && !got.notModified ? new TextDecoder().decode(got.body) : null).toBe('x');
  });

  it('cleans on any first operation (a read too), once per store, with a configurable age', async () => {
    const root = plant({ 'one.tmp': 5_000, 'two.tmp': 120_000 });
    const store = new FsStore({ root, tempSafetyAgeMs: 60_000 });
    expect(await store.head('missing')).toBeNull();
    expect(tmpFiles(root)).toEqual(['one.tmp']);
    // A file that ages past the limit later is left for the next start (cleanup runs once).
    const t = new Date(Date.now() - 3_600_000);
    utimesSync(join(root, '.tmp', 'one.tmp'), t, t);
    await store.head('missing');
    expect(tmpFiles(root)).toEqual(['one.tmp']);
    expect(await store.removeStaleTempFiles()).toBe(1);
    expect(tmpFiles(root)).toEqual([]);
  });

  it('two stores starting on one directory remove each leftover once between them and never fail', async () => {
    const root = plant(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`old-${i}.tmp`, DEFAULT_TEMP_SAFETY_AGE_MS * 2])));
    const a = new FsStore({ root });
    const b = new FsStore({ root });
    await Promise.all([a.head('k'), b.head('k')]);
    expect(a.staleTempFilesRemoved + b.staleTempFilesRemoved).toBe(20);
    expect(tmpFiles(root)).toEqual([]);
  });

  it('a fresh directory (no temp dir yet) starts fine', async () => {
    const root = mkdtempSync(join(tmpdir(), 'usagedb-fs-tmp-'));
    const store = new FsStore({ root });
    await store.put('k', enc.encode('v'));
    expect(store.staleTempFilesRemoved).toBe(0);
    expect(tmpFiles(root)).toEqual([]);
  });
});
