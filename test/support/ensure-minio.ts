/**
 * `npm test`'s pretest step: makes sure the integration tests will have an S3 endpoint.
 * Nothing to do when USAGEDB_TEST_S3_ENDPOINT is set, a Docker engine answers, or a minio binary
 * exists. Otherwise it installs the pinned MinIO with `go install` (reusing Go's caches) and
 * prints how long that took; if that fails, it installs moto's S3 server (>= 5.1.5, which
 * honours If-Match) with pip, and the harness uses it and says so.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { dockerAvailable, findMinioBinary, findMotoServer, MINIO_MODULE } from './minio.ts';

function goBin(): string | undefined {
  try {
    const gopath = execFileSync('go', ['env', 'GOPATH'], { encoding: 'utf8' }).trim();
    return join(gopath, 'bin', 'minio');
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  if (process.env.USAGEDB_TEST_S3_ENDPOINT) return console.log('[ensure-minio] using USAGEDB_TEST_S3_ENDPOINT');
  const existing = findMinioBinary();
  if (existing !== undefined) return console.log(`[ensure-minio] minio binary: ${existing}`);
  if ((await dockerAvailable()) === true) return console.log('[ensure-minio] Docker answers: testcontainers will start MinIO');
  const target = goBin();
  if (target !== undefined) {
    console.log(`[ensure-minio] installing ${MINIO_MODULE} with go install (first time takes several minutes)...`);
    const started = Date.now();
    try {
      execFileSync('go', ['install', MINIO_MODULE], { stdio: 'inherit', env: { ...process.env, GOFLAGS: '-mod=mod' } });
      if (existsSync(target)) {
        console.log(`[ensure-minio] minio installed at ${target} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        return;
      }
    } catch (err) {
      console.log(`[ensure-minio] go install failed after ${((Date.now() - started) / 1000).toFixed(1)} s: ${(err as Error).message}`);
    }
  }
  if (findMotoServer() === undefined) {
    console.log("[ensure-minio] MinIO unavailable: installing moto's S3 server instead (pip install 'moto[server]>=5.1.5')");
    try {
      execFileSync('python3', ['-m', 'pip', 'install', '--quiet', 'moto[server]>=5.1.5'], { stdio: 'inherit' });
    } catch {
      console.log('[ensure-minio] pip install failed; the integration tests will say what to install');
    }
  }
}

await main();
