import { describeManifestCommit } from './commit-cases.ts';
import { testS3Store, uniquePrefix } from '../support/s3.ts';

describeManifestCommit('s3 (MinIO)', async () => ({ store: testS3Store(), prefix: uniquePrefix('manifest') }));
