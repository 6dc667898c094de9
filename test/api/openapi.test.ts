/**
 * The OpenAPI document and the /docs page: the served document is valid OpenAPI 3.1 (checked by an
 * independent validator), documents exactly the routes the app serves (from `app.routes`), has
 * examples that match their own schemas, and every example request, replayed against a real app,
 * answers 200 with a body that matches the documented schema (no undocumented fields).
 */
import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { scopeFor } from '../../src/api/auth.ts';
import { API_VERSION, buildOpenApi, OPENAPI_VERSION } from '../../src/api/openapi.ts';
import { docsRoutes } from '../../src/api/routes/docs.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance, type Instance } from '../support/instance.ts';

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {});
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

interface Op {
  readonly method: string;
  readonly path: string;
  readonly op: Json;
}

/** An app with the docs routes (registered here until createApp does it itself). */
async function appWithDocs(keys?: string): Promise<Instance> {
  const inst = await openInstance(new MemoryStore(), 'db', keys === undefined ? {} : { keys });
  if (!inst.app.routes.some((r) => r.method === 'GET' && r.path === '/openapi.json')) docsRoutes(inst.app);
  return inst;
}

/** (METHOD path) of every route the app serves, in OpenAPI path syntax. */
function servedRoutes(inst: Instance): Set<string> {
  const out = new Set<string>();
  for (const r of inst.app.routes) {
    if (r.method === 'ALL') continue; // middleware
    out.add(`${r.method.toUpperCase()} ${r.path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, '{$1}')}`);
  }
  return out;
}

function operations(doc: Json): Op[] {
  const ops: Op[] = [];
  for (const [path, item] of Object.entries(obj(doc.paths))) {
    for (const method of METHODS) if (obj(item)[method] !== undefined) ops.push({ method, path, op: obj(obj(item)[method]) });
  }
  return ops;
}

/** Deep copy where every object schema with properties refuses undeclared ones (catches undocumented fields). */
function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed);
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Json = {};
  for (const [k, v] of Object.entries(schema)) out[k] = k === 'examples' || k === 'example' || k === 'const' || k === 'enum' || k === 'default' ? v : closed(v);
  if (out.properties !== undefined && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

const BASE = 'urn:usagedb:openapi';
/** Points `#/components/schemas/X` refs at the `$defs` of one schema ajv holds under BASE. */
const rebase = (schema: unknown): unknown => JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', `"${BASE}#/$defs/`));

/** Compiles schemas of the document (with $refs into its components) with ajv's draft 2020-12 validator. */
function schemaValidator(doc: Json): (schema: unknown) => ValidateFunction {
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
  ajv.addSchema({ $id: BASE, $defs: rebase(closed(obj(doc.components).schemas)) });
  const cache = new Map<string, ValidateFunction>();
  return (schema) => {
    const key = JSON.stringify(schema);
    let fn = cache.get(key);
    if (fn === undefined) cache.set(key, (fn = ajv.compile(obj(rebase(closed(schema))))));
    return fn;
  };
}

function expectValid(validate: ValidateFunction, value: unknown, where: string): void {
  const ok = validate(value);
  expect(ok ? [] : (validate.errors ?? []).map((e) => `${where}: ${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`)).toEqual([]);
}

let inst: Instance;
let doc: Json;
beforeAll(async () => {
  inst = await appWithDocs();
  const res = await inst.app.request('/openapi.json');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  doc = (await res.json()) as Json;
});

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1 according to @seriousme/openapi-schema-validator', async () => {
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(doc.openapi).toBe(OPENAPI_VERSION);
    expect(OPENAPI_VERSION).toBe('3.1.0');
  });

  it('is what buildOpenApi() returns, and carries the package version', () => {
    expect(doc).toEqual(JSON.parse(JSON.stringify(buildOpenApi())));
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(obj(doc.info).version).toBe(API_VERSION);
    expect(API_VERSION).toBe(pkg.version);
  });

  it('documents exactly the routes the app serves', () => {
    const documented = new Set(operations(doc).map((o) => `${o.method.toUpperCase()} ${o.path}`));
    const served = servedRoutes(inst);
    expect([...served].filter((r) => !documented.has(r)).sort(), 'served but not documented').toEqual([]);
    expect([...documented].filter((r) => !served.has(r)).sort(), 'documented but not served').toEqual([]);
    for (const required of [
      'GET /health',
      'GET /metrics',
      'POST /v1/usage/batch',
      'GET /v1/accounts/{account_id}/usage',
      'GET /v1/accounts/{account_id}/usage/events',
      'GET /v1/accounts/{account_id}/explain',
      'POST /v1/query/json',
      'POST /v1/query/sql',
      'POST /v1/accounts/{account_id}/periods/{period}/close',
      'POST /v1/accounts/{account_id}/periods/{period}/reopen',
      'GET /v1/accounts/{account_id}/periods/{period}',
      'GET /v1/accounts/{account_id}/periods',
      'GET /openapi.json',
      'GET /docs',
    ]) {
      expect(documented.has(required), required).toBe(true);
    }
  });

  it('gives every operation a summary, examples, a 200 and the error answers that apply', () => {
    const ids = new Set<string>();
    for (const { method, path, op } of operations(doc)) {
      const where = `${method.toUpperCase()} ${path}`;
      expect(typeof op.summary === 'string' && op.summary.length > 0, `${where}: summary`).toBe(true);
      expect(typeof op.operationId, `${where}: operationId`).toBe('string');
      expect(ids.has(String(op.operationId)), `${where}: operationId is unique`).toBe(false);
      ids.add(String(op.operationId));
      const responses = obj(op.responses);
      expect(responses['200'], `${where}: 200`).toBeDefined();
      // Every response and request body has a schema and at least one example.
      const medias = [...Object.values(responses).flatMap((r) => Object.values(obj(obj(r).content))), ...Object.values(obj(obj(op.requestBody).content))].map(
        obj,
      );
      expect(medias.length, `${where}: content`).toBeGreaterThan(0);
      for (const m of medias) {
        expect(m.schema, `${where}: schema`).toBeDefined();
        expect(Object.keys(obj(m.examples)).length, `${where}: examples`).toBeGreaterThan(0);
      }
      const params = (op.parameters as Json[] | undefined) ?? [];
      for (const p of params) {
        expect(typeof p.description === 'string' && p.description.length > 0, `${where}: ${String(p.name)} description`).toBe(true);
        expect(obj(p.schema).type, `${where}: ${String(p.name)} type`).toBeDefined();
        expect(p.example, `${where}: ${String(p.name)} example`).toBeDefined();
      }
      // Every {param} of the path is a required path parameter, and no other path parameter exists.
      const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      expect(
        params
          .filter((p) => p.in === 'path')
          .map((p) => p.name)
          .sort(),
        `${where}: path params`,
      ).toEqual(inPath.sort());
      expect(
        params.filter((p) => p.in === 'path').every((p) => p.required === true),
        `${where}: path params required`,
      ).toBe(true);
      // Input (parameters or a body) can be wrong: 400. A scope: 401 and 403. The store: 503.
      if (params.length > 0 || op.requestBody !== undefined) expect(responses['400'], `${where}: 400`).toBeDefined();
      const security = op.security as Json[];
      if (security.length > 0) {
        expect(responses['401'], `${where}: 401`).toBeDefined();
        expect(responses['403'], `${where}: 403`).toBeDefined();
      }
      for (const status of ['400', '401', '403', '404', '413', '500', '503']) {
        const r = obj(responses[status]);
        if (r.content === undefined || path === '/health') continue;
        expect(obj(obj(r.content)['application/json']).schema, `${where}: ${status} uses ErrorBody`).toEqual({ $ref: '#/components/schemas/ErrorBody' });
      }
      if (path.startsWith('/v1/')) expect(responses['503'], `${where}: 503`).toBeDefined();
    }
    expect(obj(obj(obj(doc.paths)['/v1/usage/batch']).post).responses).toHaveProperty('413');
  });

  it('gives every operation the security scopeFor enforces', () => {
    for (const { method, path, op } of operations(doc)) {
      const concrete = path
        .replace(/\{account_id\}/g, 'acct-1')
        .replace(/\{period\}/g, '2026-01')
        .replace(/\{[^}]+\}/g, 'x');
      const scope = scopeFor(method.toUpperCase(), concrete);
      expect(op.security, `${method.toUpperCase()} ${path}`).toEqual(scope === null ? [] : [{ bearer: [scope] }]);
    }
    expect(obj(obj(doc.components).securitySchemes).bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('has examples that are valid against their own schemas', () => {
    const compile = schemaValidator(doc);
    let checked = 0;
    for (const { method, path, op } of operations(doc)) {
      const where = `${method.toUpperCase()} ${path}`;
      const medias: [string, Json][] = [
        ...Object.entries(obj(obj(op.requestBody).content)).map(([t, m]): [string, Json] => [`${where} request ${t}`, obj(m)]),
        ...Object.entries(obj(op.responses)).flatMap(([status, r]) =>
          Object.entries(obj(obj(r).content)).map(([t, m]): [string, Json] => [`${where} ${status} ${t}`, obj(m)]),
        ),
      ];
      for (const [label, m] of medias) {
        const validate = compile(m.schema);
        for (const [name, ex] of Object.entries(obj(m.examples))) {
          expectValid(validate, obj(ex).value, `${label} example ${name}`);
          checked++;
        }
      }
      for (const p of (op.parameters as Json[] | undefined) ?? []) {
        expectValid(compile(p.schema), p.example, `${where} parameter ${String(p.name)}`);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(40);
  });

  it('has schemas that refuse what the API refuses', () => {
    const compile = schemaValidator(doc);
    const batch = compile({ $ref: '#/components/schemas/UsageBatch' });
    expect(
      batch({ events: [{ event_id: 'e', account_id: 'a', product_id: 'p', meter_id: 'm', source: 's', unit: 'u', timestamp_ms: 1, quantity: '12' }] }),
    ).toBe(true);
    expect(
      batch({ events: [{ event_id: 'e', account_id: 'a', product_id: 'p', meter_id: 'm', source: 's', unit: 'u', timestamp_ms: 1, quantity: 1.5 }] }),
    ).toBe(false);
    expect(batch({ events: [{ event_id: '', account_id: 'a', product_id: 'p', meter_id: 'm', source: 's', unit: 'u', timestamp_ms: 1, quantity: 1 }] })).toBe(
      false,
    );
    expect(batch({})).toBe(false);
    const error = compile({ $ref: '#/components/schemas/ErrorBody' });
    expect(error({ error: { code: 'invalid_request', message: 'x' } })).toBe(true);
    expect(error({ code: 'invalid_request' })).toBe(false);
  });
});

describe('example requests replayed against the app', () => {
  /** Concrete URL of an operation from its parameter examples. */
  function urlOf(path: string, op: Json): string {
    const params = (op.parameters as Json[] | undefined) ?? [];
    let url = path;
    const query = new URLSearchParams();
    for (const p of params) {
      if (p.in === 'path') url = url.replace(`{${String(p.name)}}`, encodeURIComponent(String(p.example)));
      else if (p.example !== undefined) query.set(String(p.name), String(p.example));
    }
    const qs = query.toString();
    return qs === '' ? url : `${url}?${qs}`;
  }

  // Ingest first, then reads, then close → read → reopen → list.
  const order = (o: Op): number =>
    o.path === '/v1/usage/batch'
      ? 0
      : o.path.endsWith('/close')
        ? 2
        : o.path.endsWith('/reopen')
          ? 4
          : o.path.endsWith('/periods')
            ? 5
            : o.path.endsWith('/{period}')
              ? 3
              : 1;

  it('answers every example request with 200 and a body matching the documented schema', async () => {
    const fresh = await appWithDocs();
    // The resolve example names a quarantined conflict of the example account: plant one.
    await fresh.db.shardOf('acct_42').commit({
      op: 'addConflicts',
      conflicts: [
        { id: '01KD81000000000000000000CD', kind: 'payload', status: 'quarantined', event_id: 'evt_0001', account_id: 'acct_42', segments: [], found_at_ms: 1 },
      ],
    });
    const compile = schemaValidator(doc);
    const ops = operations(doc).sort((a, b) => order(a) - order(b));
    let replayed = 0;
    const seen: Record<string, Json> = {};
    for (const { method, path, op } of ops) {
      const url = urlOf(path, op);
      const bodies: { type: string; value: unknown }[] = [];
      for (const [type, m] of Object.entries(obj(obj(op.requestBody).content))) {
        for (const ex of Object.values(obj(obj(m).examples))) bodies.push({ type, value: obj(ex).value });
      }
      if (bodies.length === 0) bodies.push({ type: '', value: undefined });
      for (const b of bodies) {
        const init: RequestInit = { method: method.toUpperCase() };
        if (b.value !== undefined) {
          init.headers = { 'content-type': b.type };
          init.body = typeof b.value === 'string' ? b.value : JSON.stringify(b.value);
        }
        const res = await fresh.app.request(url, init);
        const where = `${method.toUpperCase()} ${url} ${b.type}`;
        const text = await res.text();
        expect(res.status, `${where}: ${text.slice(0, 300)}`).toBe(200);
        const ok = obj(obj(op.responses)['200']);
        const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
        const media = obj(obj(ok.content)[type]);
        expect(media.schema, `${where}: answered ${type}, which is documented`).toBeDefined();
        const value = type === 'application/json' ? (JSON.parse(text) as unknown) : text;
        expectValid(compile(media.schema), value, where);
        seen[`${method} ${path}`] = obj(value);
        replayed++;
      }
    }
    expect(replayed).toBeGreaterThanOrEqual(operations(doc).length);
    // The examples tell a story: the events were accepted and counted, the period closed and reopened.
    expect(seen['post /v1/usage/batch']).toMatchObject({ accepted: 1 });
    expect(seen['post /v1/accounts/{account_id}/periods/{period}/close']).toMatchObject({ state: 'closed', already_closed: false });
    expect(seen['get /v1/accounts/{account_id}/periods/{period}']).toMatchObject({ state: 'closed', net_total: '1000' });
    expect(seen['post /v1/accounts/{account_id}/periods/{period}/reopen']).toMatchObject({ state: 'open', reopened: true });
    expect(seen['get /v1/accounts/{account_id}/usage']).toMatchObject({ lines: [{ meter_id: 'tokens.output', quantity: '1000', count: 2 }] });
  });

  it('answers the documented error shape for a bad request', async () => {
    const compile = schemaValidator(doc);
    const res = await inst.app.request('/v1/accounts/acct_42/usage?to=2026-02-01T00:00:00Z');
    expect(res.status).toBe(400);
    const op = obj(obj(obj(doc.paths)['/v1/accounts/{account_id}/usage']).get);
    const schema = obj(obj(obj(obj(op.responses)['400']).content)['application/json']).schema;
    expectValid(compile(schema), await res.json(), '400');
  });
});

describe('/docs and /openapi.json', () => {
  it('/docs is a self-contained HTML page listing every operation', async () => {
    const res = await inst.app.request('/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await res.text();
    expect(html.startsWith('<!doctype html>')).toBe(true);
    for (const { method, path, op } of operations(doc)) {
      expect(html, path).toContain(`<code class="path">${path}</code>`);
      expect(html, `${method} ${path}`).toContain(`id="op-${String(op.operationId)}"`);
      for (const p of (op.parameters as Json[] | undefined) ?? []) expect(html).toContain(`<code>${String(p.name)}</code>`);
    }
    for (const name of Object.keys(obj(obj(doc.components).schemas))) expect(html).toContain(`id="schema-${name}"`);
    // Every in-page link points at something on the page.
    for (const [, target] of html.matchAll(/href="#([^"]+)"/g)) expect(html, target).toContain(`id="${target}"`);
    // No scripts and nothing loaded from elsewhere.
    expect(html).not.toMatch(/<script|<link|<iframe|<img|\bsrc=|url\(/i);
    expect(html).not.toMatch(/href="(https?:)?\/\//i);
  });

  it('are public when API keys are configured', async () => {
    const locked = await appWithDocs('reader:read-secret-000002:read');
    for (const path of ['/openapi.json', '/docs']) expect((await locked.app.request(path)).status, path).toBe(200);
    expect((await locked.app.request('/v1/accounts/a/periods')).status).toBe(401);
  });
});
