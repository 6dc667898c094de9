import { describeRowGroupReads } from './row-groups-cases.ts';
import { testS3Store, uniquePrefix } from '../support/s3.ts';

describeRowGroupReads('s3 (MinIO)', async () => ({ store: testS3Store(), prefix: uniquePrefix('row-groups') }));
