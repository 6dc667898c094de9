import { describeHistory } from './history-cases.ts';
import { testS3Store, uniquePrefix } from '../support/s3.ts';

describeHistory('s3 (MinIO)', async () => ({ store: testS3Store(), prefix: uniquePrefix('history') }));
