import { MemoryStore } from '../../src/store/memory.ts';
import { describeObjectStore } from './conformance.ts';

let n = 0;
describeObjectStore('memory', async () => ({ store: new MemoryStore(), prefix: `m${n++}` }));
