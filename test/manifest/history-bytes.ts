/**
 * `node test/manifest/history-bytes.ts [--commits N]`: history bytes per commit on one shard
 * whose manifest holds S segments, for S = 100, 1,000, 5,000: N commits that each add one raw
 * segment (an ingest's edit) on the memory store. "full copies" is what the previous release
 * wrote (each committed current.json, byte for byte, to history/); "incremental" is what
 * history/ holds now (edit records + checkpoints), measured by listing it.
 */
import { parseArgs } from 'node:util';
import { ShardKeys } from '../../src/manifest/keys.ts';
import { ManifestStore } from '../../src/manifest/manifest-store.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { listAll, type ObjectStore } from '../../src/store/types.ts';
import { realTimeDeps } from '../support/deps.ts';
import { addSegments } from '../support/fixtures.ts';

const { values } = parseArgs({ options: { commits: { type: 'string', default: '512' } } });
const commits = Number(values.commits);

async function bytesUnder(store: ObjectStore, prefix: string): Promise<{ bytes: number; recordBytes: number; objects: number; checkpoints: number }> {
  let bytes = 0;
  let recordBytes = 0;
  let objects = 0;
  let checkpoints = 0;
  for await (const o of listAll(store, prefix)) {
    bytes += o.size;
    objects++;
    if (o.key.endsWith('.edits.json')) recordBytes += o.size;
    else checkpoints++;
  }
  return { bytes, recordBytes, objects, checkpoints };
}

const rows = [];
for (const size of [100, 1_000, 5_000]) {
  const store = new MemoryStore();
  const keys = new ShardKeys(`bench${size}`, 0, 1);
  const ms = new ManifestStore({ store, keys, shard: 0, deps: realTimeDeps(1) });
  await ms.load();
  await ms.commit(addSegments(...Array.from({ length: size }, (_, i) => `base-${String(i).padStart(6, '0')}`)));
  const before = await bytesUnder(store, keys.historyPrefix);
  let fullCopies = 0;
  const started = performance.now();
  for (let i = 0; i < commits; i++) {
    const res = await ms.commit(addSegments(`seg-${String(i).padStart(6, '0')}`));
    fullCopies += new TextEncoder().encode(JSON.stringify(res.state.manifest)).byteLength;
  }
  const ms_per_commit = (performance.now() - started) / commits;
  const after = await bytesUnder(store, keys.historyPrefix);
  const manifestBytes = (await store.head(keys.current))!.size;
  const incremental = after.bytes - before.bytes;
  rows.push({
    segments: size,
    manifest_bytes: manifestBytes,
    commits,
    full_copy_bytes_per_commit: Math.round(fullCopies / commits),
    incremental_bytes_per_commit: Math.round(incremental / commits),
    record_bytes_per_commit: Math.round((after.recordBytes - before.recordBytes) / commits),
    ratio: Number((incremental / fullCopies).toFixed(4)),
    checkpoints: after.checkpoints - before.checkpoints,
    history_objects: after.objects - before.objects,
    commit_ms: Number(ms_per_commit.toFixed(2)),
  });
}
console.table(rows);
