import { MemoryStore } from '../../src/store/memory.ts';
import { describeParts } from './parts-cases.ts';

let n = 0;
describeParts('memory', async () => ({ store: new MemoryStore(), prefix: `db${n++}` }));
