import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsStore } from '../../src/store/fs.ts';
import { describeObjectStore } from './conformance.ts';

const root = mkdtempSync(join(tmpdir(), 'usagedb-fs-'));
let n = 0;
// `other` is a second FsStore on the same directory: separate caches, as a second process has.
describeObjectStore('fs', async () => ({ store: new FsStore({ root }), other: new FsStore({ root }), prefix: `f${n++}` }));
