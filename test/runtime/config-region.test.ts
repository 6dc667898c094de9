/**
 * The S3 region when USAGEDB_S3_REGION is unset (issue 17 item 6): "auto" with an endpoint (R2,
 * MinIO); on AWS S3 (no endpoint) AWS_REGION, else us-east-1, so the SDK addresses
 * <bucket>.s3.<region>.amazonaws.com and never the nonexistent s3.auto.amazonaws.com.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/runtime/config.ts';

const region = (env: Record<string, string>) => {
  const c = loadConfig({ USAGEDB_S3_BUCKET: 'usage', ...env }).store;
  if (c.kind !== 's3') throw new Error('expected an s3 store');
  return c.region;
};

describe('S3 region default', () => {
  it('is us-east-1 on AWS with no AWS_REGION, AWS_REGION when set, and the explicit variable wins', () => {
    expect(region({})).toBe('us-east-1');
    expect(region({ AWS_REGION: 'eu-west-1' })).toBe('eu-west-1');
    expect(region({ AWS_REGION: 'eu-west-1', USAGEDB_S3_REGION: 'ap-south-1' })).toBe('ap-south-1');
  });

  it('is auto with an endpoint (R2, MinIO), whatever AWS_REGION says', () => {
    expect(region({ USAGEDB_S3_ENDPOINT: 'https://0123abcd.r2.cloudflarestorage.com' })).toBe('auto');
    expect(region({ USAGEDB_S3_ENDPOINT: 'http://127.0.0.1:9000', AWS_REGION: 'eu-west-1' })).toBe('auto');
  });

  it('makes the SDK address a real AWS host', async () => {
    const client = new S3Client({ region: region({ AWS_REGION: 'eu-central-1' }), credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const endpoint = await client.config.endpointProvider({ Region: await client.config.region(), Bucket: 'usage', UseFIPS: false, UseDualStack: false });
    expect(endpoint.url.hostname).toBe('usage.s3.eu-central-1.amazonaws.com');
    client.destroy();
  });
});
