import { MemoryStore } from '../../src/store/memory.ts';
import { describeIngest } from './ingest-cases.ts';

let n = 0;
describeIngest('memory', async () => ({ store: new MemoryStore(), prefix: `db${n++}` }));
