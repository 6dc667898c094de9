/**
 * Finds or starts an S3 endpoint for the integration tests and benchmarks, in this order:
 *   1. an endpoint given in env: USAGEDB_TEST_S3_ENDPOINT (+ _ACCESS_KEY, _SECRET_KEY, _BUCKET, _REGION);
 *   2. testcontainers MinIO, where a Docker engine answers;
 *   3. a `minio` server binary (USAGEDB_MINIO_BIN, PATH, or $GOPATH/bin) on 127.0.0.1, free port, temp dir;
 *      (`MinioProcess` starts one on a fixed data directory and port that can be killed and restarted);
 *   4. moto's S3 server (`moto_server`, moto[server] >= 5.1.5), only where MinIO could not be installed;
 *   5. otherwise a loud failure saying what to install. Never a silent skip.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

export interface S3Endpoint {
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly bucket: string;
  /** How it was obtained, printed in the test output. */
  readonly via: string;
}

export interface RunningS3 {
  readonly s3: S3Endpoint;
  stop(): Promise<void>;
}

const MINIO_IMAGE = 'minio/minio:RELEASE.2025-09-07T16-13-09Z';
/** The MinIO server pinned for machines without Docker (installed by `go install`, see ensure-minio.ts). */
export const MINIO_MODULE = 'github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c';
const USER = 'usagedb';
const PASSWORD = 'usagedb-test-secret';

export async function startTestS3(bucket = 'usagedb-test'): Promise<RunningS3> {
  const env = process.env;
  if (env.USAGEDB_TEST_S3_ENDPOINT) {
    const s3: S3Endpoint = {
      endpoint: env.USAGEDB_TEST_S3_ENDPOINT,
      region: env.USAGEDB_TEST_S3_REGION ?? 'us-east-1',
      accessKeyId: env.USAGEDB_TEST_S3_ACCESS_KEY ?? USER,
      secretAccessKey: env.USAGEDB_TEST_S3_SECRET_KEY ?? PASSWORD,
      bucket: env.USAGEDB_TEST_S3_BUCKET ?? bucket,
      via: `endpoint from USAGEDB_TEST_S3_ENDPOINT (${env.USAGEDB_TEST_S3_ENDPOINT})`,
    };
    await ensureBucket(s3);
    return { s3, stop: async () => undefined };
  }
  const docker = await dockerAvailable();
  if (docker === true) return startContainer(bucket);
  const bin = findMinioBinary();
  if (bin !== undefined) return startBinary(bin, bucket, docker);
  const moto = findMotoServer();
  if (moto !== undefined) return startMoto(moto, bucket, docker);
  throw new Error(
    [
      'No S3 endpoint for the integration tests, and they are never skipped. Provide one of:',
      '  - USAGEDB_TEST_S3_ENDPOINT (+ USAGEDB_TEST_S3_ACCESS_KEY / _SECRET_KEY / _BUCKET) pointing at MinIO or S3;',
      '  - a Docker engine (testcontainers starts MinIO);',
      `  - a minio binary on PATH or in USAGEDB_MINIO_BIN: \`go install ${MINIO_MODULE}\` (what \`npm test\` tries first);`,
      "  - or moto's S3 server: pip install 'moto[server]>=5.1.5'.",
      `Docker: ${docker}`,
    ].join('\n'),
  );
}

export async function dockerAvailable(): Promise<true | string> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch (err) {
    return (err as Error).message.split('\n')[0] ?? 'unavailable';
  }
}

async function startContainer(bucket: string): Promise<RunningS3> {
  const { MinioContainer } = await import('@testcontainers/minio');
  const c = await new MinioContainer(MINIO_IMAGE).withUsername(USER).withPassword(PASSWORD).start();
  const s3: S3Endpoint = {
    endpoint: c.getConnectionUrl(),
    region: 'us-east-1',
    accessKeyId: USER,
    secretAccessKey: PASSWORD,
    bucket,
    via: `testcontainers ${MINIO_IMAGE}`,
  };
  await ensureBucket(s3);
  return { s3, stop: async () => void (await c.stop()) };
}

export function findMinioBinary(): string | undefined {
  const candidates = [
    process.env.USAGEDB_MINIO_BIN,
    ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'minio')),
    process.env.GOPATH ? join(process.env.GOPATH, 'bin', 'minio') : undefined,
    join(homedir(), 'go', 'bin', 'minio'),
  ];
  return candidates.find((p): p is string => p !== undefined && p !== '' && existsSync(p));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export function findMotoServer(): string | undefined {
  const candidates = [
    process.env.USAGEDB_MOTO_BIN,
    ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'moto_server')),
    join(homedir(), '.local', 'bin', 'moto_server'),
  ];
  return candidates.find((p): p is string => p !== undefined && p !== '' && existsSync(p));
}

async function waitReady(url: string, child: ChildProcess, stderr: () => string, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}: ${stderr()}`);
    try {
      const res = await fetch(url);
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${what} did not become ready in 30 s: ${stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function stopper(child: ChildProcess, dir?: string): () => Promise<void> {
  return async () => {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  };
}

async function startMoto(bin: string, bucket: string, dockerWhyNot: string): Promise<RunningS3> {
  const port = await freePort();
  const child = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const endpoint = `http://127.0.0.1:${port}`;
  await waitReady(`${endpoint}/`, child, () => stderr, 'moto_server');
  const s3: S3Endpoint = {
    endpoint,
    region: 'us-east-1',
    accessKeyId: USER,
    secretAccessKey: PASSWORD,
    bucket,
    via: `moto_server ${bin} on ${endpoint} — NOT MinIO: MinIO could not be installed here (no Docker: ${dockerWhyNot})`,
  };
  await ensureBucket(s3);
  return { s3, stop: stopper(child) };
}

async function startBinary(bin: string, bucket: string, dockerWhyNot: string): Promise<RunningS3> {
  const dir = await mkdtemp(join(tmpdir(), 'usagedb-minio-'));
  const minio = new MinioProcess({ bin, dataDir: join(dir, 'data'), port: await freePort(), consolePort: await freePort() });
  await minio.start();
  const s3: S3Endpoint = { ...minio.endpointFor(bucket), via: `minio binary ${bin} on ${minio.endpoint} (no Docker: ${dockerWhyNot})` };
  await ensureBucket(s3);
  return {
    s3,
    stop: async () => {
      await minio.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface MinioProcessOptions {
  /** The minio server binary (default: `findMinioBinary()`). */
  readonly bin?: string | undefined;
  /** Data directory, kept across restarts. */
  readonly dataDir: string;
  /** S3 port, kept across restarts (default: a free port chosen once). */
  readonly port?: number | undefined;
  readonly consolePort?: number | undefined;
}

/**
 * A MinIO server process the caller controls: started on a fixed data directory and port, so it
 * can be SIGKILLed and started again on the same data (the chaos run does this). `start` waits
 * until MinIO reports ready.
 */
export class MinioProcess {
  readonly bin: string;
  readonly dataDir: string;
  private port: number | undefined;
  private consolePort: number | undefined;
  private child: ChildProcess | undefined;
  private stderr = '';

  constructor(opts: MinioProcessOptions) {
    const bin = opts.bin ?? findMinioBinary();
    if (bin === undefined) throw new Error(`no minio binary: set USAGEDB_MINIO_BIN or \`go install ${MINIO_MODULE}\``);
    this.bin = bin;
    this.dataDir = opts.dataDir;
    this.port = opts.port;
    this.consolePort = opts.consolePort;
  }

  get endpoint(): string {
    if (this.port === undefined) throw new Error('MinIO has not been started yet');
    return `http://127.0.0.1:${this.port}`;
  }

  /** Whether the process is running (it may still be starting). */
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The endpoint with this server's credentials, for `bucket`. */
  endpointFor(bucket: string): Omit<S3Endpoint, 'via'> {
    return { endpoint: this.endpoint, region: 'us-east-1', accessKeyId: USER, secretAccessKey: PASSWORD, bucket };
  }

  async start(): Promise<void> {
    if (this.running) throw new Error('MinIO is already running');
    this.port ??= await freePort();
    this.consolePort ??= await freePort();
    this.stderr = '';
    const child = spawn(
      this.bin,
      ['server', this.dataDir, '--address', `127.0.0.1:${this.port}`, '--console-address', `127.0.0.1:${this.consolePort}`, '--quiet'],
      {
        env: { ...process.env, MINIO_ROOT_USER: USER, MINIO_ROOT_PASSWORD: PASSWORD, MINIO_BROWSER: 'off', MINIO_UPDATE: 'off' },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    child.stderr?.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    this.child = child;
    await waitReady(`${this.endpoint}/minio/health/ready`, child, () => this.stderr, 'minio');
  }

  /** Sends `signal` (SIGKILL: a crash) and waits until the process is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill('SIGTERM');
  }
}

export async function ensureBucket(s3: S3Endpoint | Omit<S3Endpoint, 'via'>): Promise<void> {
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  try {
    await client.send(new CreateBucketCommand({ Bucket: s3.bucket }));
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
  } finally {
    client.destroy();
  }
}
