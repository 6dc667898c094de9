/** vitest globalSetup for the `minio` project: one S3 endpoint for the whole run. */
import type { TestProject } from 'vitest/node';
import { startTestS3, type S3Endpoint } from './minio.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    s3: S3Endpoint;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const running = await startTestS3();
  console.log(`[usagedb tests] S3 endpoint: ${running.s3.via} (ready in ${Date.now() - started} ms)`);
  project.provide('s3', running.s3);
  return () => running.stop();
}
