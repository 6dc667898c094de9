import { MemoryStore } from '../../src/store/memory.ts';
import { describeManifestCommit } from './commit-cases.ts';

let n = 0;
describeManifestCommit('memory', async () => ({ store: new MemoryStore(), prefix: `db${n++}` }));
