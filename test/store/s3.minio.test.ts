import { describeObjectStore } from './conformance.ts';
import { testS3Store, uniquePrefix } from '../support/s3.ts';

describeObjectStore('s3 (MinIO)', async () => ({ store: testS3Store(), other: testS3Store(), prefix: uniquePrefix('conf') }));
