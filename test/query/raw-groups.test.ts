import { MemoryStore } from '../../src/store/memory.ts';
import { describeRawGroupReads } from './raw-groups-cases.ts';

describeRawGroupReads('memory', async () => ({ store: new MemoryStore(), prefix: 'db' }));
