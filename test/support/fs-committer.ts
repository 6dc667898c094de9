/** Child process for the fs multi-process test: commits N unique items to shard 0 of a directory. */
import { ShardKeys } from '../../src/manifest/keys.ts';
import { ManifestStore } from '../../src/manifest/manifest-store.ts';
import { FsStore } from '../../src/store/fs.ts';
import { realTimeDeps } from './deps.ts';
import { addSegments } from './fixtures.ts';

const [root, name, count] = process.argv.slice(2) as [string, string, string];
const ms = new ManifestStore({
  store: new FsStore({ root }),
  keys: new ShardKeys('db', 0, 1),
  shard: 0,
  deps: realTimeDeps(Number(process.pid)),
  policy: { maxAttempts: 10_000, maxDurationMs: 120_000 },
});
for (let i = 0; i < Number(count); i++) {
  const id = `${name}-${i}`;
  await ms.commit(addSegments(id));
}
process.stdout.write(JSON.stringify(ms.stats));
