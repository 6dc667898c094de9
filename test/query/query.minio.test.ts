import { describeQueries } from './query-cases.ts';
import { testS3Store, uniquePrefix } from '../support/s3.ts';

describeQueries('s3 (MinIO)', async () => ({ store: testS3Store(), prefix: uniquePrefix('query') }), [11], 2000);
