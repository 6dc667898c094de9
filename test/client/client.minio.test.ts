/** The client's route tour over real HTTP against an app whose store is S3 (MinIO). */
import { describe, it } from 'vitest';
import { UsageDbClient } from '../../src/client/index.ts';
import { openInstance } from '../support/instance.ts';
import { testS3Store, uniquePrefix } from '../support/s3.ts';
import { listen } from './listen.ts';
import { routeTour } from './live-cases.ts';

describe('client against the app on MinIO', () => {
  it('every route, with exact answers, over HTTP', async () => {
    const inst = await openInstance(testS3Store(), uniquePrefix('client'));
    const http = await listen(inst);
    try {
      await routeTour(new UsageDbClient({ baseUrl: http.url, maxBatchEvents: 1000 }));
    } finally {
      await http.close();
    }
  }, 120_000);
});
