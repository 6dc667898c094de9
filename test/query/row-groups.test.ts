import { MemoryStore } from '../../src/store/memory.ts';
import { describeRowGroupReads } from './row-groups-cases.ts';

describeRowGroupReads('memory', async () => ({ store: new MemoryStore(), prefix: 'db' }));
