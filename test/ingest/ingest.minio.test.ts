import { describeIngest } from './ingest-cases.ts';
import { testS3Store, uniquePrefix } from '../support/s3.ts';

describeIngest('s3 (MinIO)', async () => ({ store: testS3Store(), prefix: uniquePrefix('ingest') }));
