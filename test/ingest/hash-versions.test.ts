import { MemoryStore } from '../../src/store/memory.ts';
import { describeHashVersions } from './hash-versions-cases.ts';

describeHashVersions('memory store', async () => ({ store: new MemoryStore(), prefix: 'db' }));
