import { MemoryStore } from '../../src/store/memory.ts';
import { describeQueries } from './query-cases.ts';

let n = 0;
describeQueries('memory', async () => ({ store: new MemoryStore(), prefix: `db${n++}` }), [1, 2, 3], 3000);
