import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsStore } from '../../src/store/fs.ts';
import { describeManifestCommit } from './commit-cases.ts';

const root = mkdtempSync(join(tmpdir(), 'usagedb-manifest-fs-'));
let n = 0;
describeManifestCommit('fs', async () => ({ store: new FsStore({ root }), prefix: `db${n++}` }));
