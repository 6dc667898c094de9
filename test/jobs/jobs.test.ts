import { MemoryStore } from '../../src/store/memory.ts';
import { describeJobs } from './jobs-cases.ts';
import { describeSparseRollups } from './sparse-rollup-cases.ts';

let n = 0;
describeJobs('memory', async () => ({ store: new MemoryStore(), prefix: `db${n++}` }));
describeSparseRollups('memory', async () => ({ store: new MemoryStore(), prefix: `sp${n++}` }));
