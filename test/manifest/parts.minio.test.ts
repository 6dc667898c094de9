import { describeParts } from './parts-cases.ts';
import { testS3Store, uniquePrefix } from '../support/s3.ts';

describeParts('s3 (MinIO)', async () => ({ store: testS3Store(), prefix: uniquePrefix('parts') }));
