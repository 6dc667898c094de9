import { MemoryStore } from '../../src/store/memory.ts';
import { describeHistory } from './history-cases.ts';

let n = 0;
describeHistory('memory', async () => ({ store: new MemoryStore(), prefix: `db${n++}` }));
