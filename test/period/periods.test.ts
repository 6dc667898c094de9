import { MemoryStore } from '../../src/store/memory.ts';
import { describePeriods } from './period-cases.ts';

let n = 0;
describePeriods('memory', async () => ({ store: new MemoryStore(), prefix: `db${n++}` }));
