/** Helpers for tests against the shared S3 endpoint: a driver and a unique prefix per test. */
import { inject } from 'vitest';
import { S3Store } from '../../src/store/s3.ts';

let counter = 0;

export function testS3Store(): S3Store {
  const s3 = inject('s3');
  return new S3Store({
    bucket: s3.bucket,
    endpoint: s3.endpoint,
    region: s3.region,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    forcePathStyle: true,
  });
}

/** A prefix no other test (or earlier run against the same bucket) uses. */
export function uniquePrefix(name: string): string {
  return `t/${name}-${Date.now().toString(36)}-${process.pid}-${counter++}`;
}

/** The environment a server or CLI process needs to use the test MinIO bucket under `prefix`. */
export function s3Env(prefix: string): Record<string, string> {
  const s3 = inject('s3');
  return {
    USAGEDB_STORE: 's3',
    USAGEDB_S3_ENDPOINT: s3.endpoint,
    USAGEDB_S3_BUCKET: s3.bucket,
    USAGEDB_S3_REGION: s3.region,
    USAGEDB_S3_ACCESS_KEY_ID: s3.accessKeyId,
    USAGEDB_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    USAGEDB_PREFIX: prefix,
  };
}
