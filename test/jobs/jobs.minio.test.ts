import { describeJobs } from './jobs-cases.ts';
import { describeSparseRollups } from './sparse-rollup-cases.ts';
import { testS3Store, uniquePrefix } from '../support/s3.ts';

describeJobs('s3 (MinIO)', async () => ({ store: testS3Store(), prefix: uniquePrefix('jobs') }));
describeSparseRollups('s3 (MinIO)', async () => ({ store: testS3Store(), prefix: uniquePrefix('sparse') }));
