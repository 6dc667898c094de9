import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ShardKeys } from '../../src/manifest/keys.ts';
import { ManifestStore } from '../../src/manifest/manifest-store.ts';
import { FsStore } from '../../src/store/fs.ts';
import { realTimeDeps } from '../support/deps.ts';

const run = promisify(execFile);

describe('fs store shared by several processes', () => {
  it('4 processes x 25 conditional commits on one shard: all 100 items exactly once', async () => {
    const root = mkdtempSync(join(tmpdir(), 'usagedb-fs-mp-'));
    const script = join(import.meta.dirname, '../support/fs-committer.ts');
    const outs = await Promise.all(['p0', 'p1', 'p2', 'p3'].map((n) => run(process.execPath, [script, root, n, '25'])));
    const stats = outs.map((o) => JSON.parse(o.stdout) as { commits: number; conflicts: number });
    expect(stats.reduce((s, x) => s + x.commits, 0)).toBe(100);
    const ms = new ManifestStore({ store: new FsStore({ root }), keys: new ShardKeys('db', 0, 1), shard: 0, deps: realTimeDeps() });
    const snap = await ms.load();
    const ids = snap.manifest.segments.map((s) => s.id);
    expect(ids).toHaveLength(100);
    expect(new Set(ids).size).toBe(100);
    expect(snap.manifest.generation).toBe(101);
  }, 120_000);

  it('4 processes creating the same 60 keys with If-None-Match: each key created by exactly one', async () => {
    const root = mkdtempSync(join(tmpdir(), 'usagedb-fs-mp-'));
    const script = join(import.meta.dirname, '../support/fs-creator.ts');
    const names = ['p0', 'p1', 'p2', 'p3'];
    const outs = await Promise.all(names.map((n) => run(process.execPath, [script, root, n, '60'])));
    const won = outs.map((o) => (JSON.parse(o.stdout) as { won: number[] }).won);
    const store = new FsStore({ root });
    for (let i = 0; i < 60; i++) {
      const creators = names.filter((_, p) => won[p]!.includes(i));
      expect(creators, `key ${i}`).toHaveLength(1);
      const body = new TextDecoder().decode(((await store.get(`race/k${i}`)) as { body: Uint8Array }).body);
      // What a later If-Match replaced it with, or the winner's own create.
      if (i % 3 !== 0) expect(body).toBe(`${creators[0]} created ${i}`);
      else expect(body).toMatch(new RegExp(`^p[0-3] (created|replaced) ${i}$`));
    }
  }, 120_000);
});
