import { describePeriods } from './period-cases.ts';
import { testS3Store, uniquePrefix } from '../support/s3.ts';

describePeriods('s3 (MinIO)', async () => ({ store: testS3Store(), prefix: uniquePrefix('periods') }));
