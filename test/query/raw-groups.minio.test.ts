import { describeRawGroupReads } from './raw-groups-cases.ts';
import { testS3Store, uniquePrefix } from '../support/s3.ts';

describeRawGroupReads('s3 (MinIO)', async () => ({ store: testS3Store(), prefix: uniquePrefix('raw-groups') }));
