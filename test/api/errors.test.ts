/**
 * Errors with a kind, and the closed set of public codes: every typed error class maps to a
 * public code, a status derived from its kind (a user error's own 4xx) and Retry-After exactly
 * when retrying helps; store-internal codes never reach a client; the README error table lists
 * exactly PUBLIC_ERROR_CODES with the status, kind and CLI exit code the code produces; and a
 * route failing on a store fault answers a generic message without object keys while the log line
 * has the request id and the internal message.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.ts';
import { KIND_STATUS, PUBLIC_ERROR_CODES, startFailure, toHttpError, type HttpError } from '../../src/api/errors.ts';
import { buildOpenApi } from '../../src/api/openapi.ts';
import { exitCodeOf } from '../../src/cli/cli.ts';
import * as coreErrors from '../../src/errors.ts';
import { UsageDbError, UserError, ValidationError } from '../../src/errors.ts';
import * as segmentErrors from '../../src/segment/errors.ts';
import * as storeErrors from '../../src/store/errors.ts';
import { AmbiguousWriteError, ObjectNotFoundError, TransientStoreError } from '../../src/store/errors.ts';
import { FaultPlan, withFaults } from '../../src/store/faulty.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance, usage } from '../support/instance.ts';
import { capturingLogger, type CapturingLogger } from '../support/logger.ts';

const ROOT = join(import.meta.dirname, '../..');
const ERROR_MODULES = { 'src/errors.ts': coreErrors, 'src/store/errors.ts': storeErrors, 'src/segment/errors.ts': segmentErrors };

/** One instance of every concrete typed error class (those that declare a code). */
function everyTypedError(): UsageDbError[] {
  const out: UsageDbError[] = [];
  for (const mod of Object.values(ERROR_MODULES)) {
    for (const value of Object.values(mod)) {
      if (typeof value !== 'function' || !(value.prototype instanceof UsageDbError)) continue;
      const err = new (value as unknown as new (message: string) => UsageDbError)('shards/03/segments/raw/01KD.useg is gone');
      if (typeof err.code === 'string') out.push(err);
    }
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));
}

/** Every error an HTTP answer can come from, by the public code it produces. */
function producers(): Map<string, { err: unknown; http: HttpError }[]> {
  const out = new Map<string, { err: unknown; http: HttpError }[]>();
  const add = (err: unknown, http: HttpError) => out.set(http.body.error.code, [...(out.get(http.body.error.code) ?? []), { err, http }]);
  for (const err of everyTypedError()) add(err, toHttpError(err));
  add(new TypeError('x is undefined'), toHttpError(new TypeError('x is undefined')));
  const config = new ValidationError('configuration: USAGEDB_SHARDS: too small', 'USAGEDB_SHARDS');
  add(config, startFailure(config));
  return out;
}

/** The README error table: code → its columns. */
function readmeTable(): Map<string, { status: number; kind: string; exit: number }> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const rows = new Map<string, { status: number; kind: string; exit: number }>();
  for (const m of readme.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \| ([a-z_]+) \| (\d) \|/gm)) {
    expect(rows.has(m[1]!), `${m[1]} is listed once`).toBe(false);
    rows.set(m[1]!, { status: Number(m[2]), kind: m[3]!, exit: Number(m[4]) });
  }
  return rows;
}

describe('errors with a kind', () => {
  const all = everyTypedError();

  it('finds every class that declares a code (they live in the three error modules)', () => {
    const declaring = sourceFiles('src').filter((f) => /readonly code = '/.test(readFileSync(join(ROOT, f), 'utf8')));
    expect(declaring.sort()).toEqual(Object.keys(ERROR_MODULES).sort());
    const declared = sourceFiles('src').flatMap((f) => [...readFileSync(join(ROOT, f), 'utf8').matchAll(/readonly code = '([a-z_]+)'/g)].map((m) => m[1]));
    expect(all.map((e) => e.code).sort()).toEqual(declared.sort());
  });

  it('maps each kind to one status: a user error its own 4xx, retryable and outcome_unknown 503 + Retry-After, fatal 500', () => {
    for (const err of all) {
      const http = toHttpError(err);
      expect(http.kind, err.code).toBe(err.kind);
      if (err.kind === 'user') {
        expect(err).toBeInstanceOf(UserError);
        expect(http.status, err.code).toBe((err as UserError).status);
        expect(http.status >= 400 && http.status < 500, err.code).toBe(true);
        expect(http.headers, err.code).toEqual({});
      } else {
        expect(http.status, err.code).toBe(KIND_STATUS[err.kind]);
        expect('Retry-After' in http.headers, err.code).toBe(err.kind !== 'fatal');
      }
    }
  });

  it('answers only public codes: store-internal ones become store_unavailable or commit_outcome_unknown', () => {
    for (const err of all) expect(PUBLIC_ERROR_CODES, err.code).toContain(toHttpError(err).body.error.code);
    const as = (err: UsageDbError) => [toHttpError(err).status, toHttpError(err).body.error.code];
    expect(as(new AmbiguousWriteError('write of k has an unknown outcome'))).toEqual([503, 'commit_outcome_unknown']);
    expect(as(new storeErrors.PreconditionFailedError('k changed'))).toEqual([503, 'store_unavailable']);
    expect(as(new storeErrors.ConflictError('k'))).toEqual([503, 'store_unavailable']);
    expect(as(new ObjectNotFoundError('k does not exist'))).toEqual([503, 'store_unavailable']);
    expect(toHttpError(new AmbiguousWriteError('w', { throttled: true })).headers).toEqual({ 'Retry-After': '1' });
    expect(toHttpError(new TransientStoreError('r', { throttled: true })).headers).toEqual({ 'Retry-After': '2' });
    // Every literal code a route or the app answers with is public too (the type checks it; this names it).
    const literal = sourceFiles('src').flatMap((f) => [...readFileSync(join(ROOT, f), 'utf8').matchAll(/errorBody\('([a-z_]+)'/g)].map((m) => m[1]));
    expect(literal.length).toBeGreaterThan(0);
    for (const code of literal) expect(PUBLIC_ERROR_CODES).toContain(code);
  });

  it('shows a user error its own message and a server error only its code’s generic message', () => {
    for (const err of all) {
      const body = toHttpError(err).body;
      if (err.kind === 'user') expect(body.error.message).toBe(err.message);
      else {
        expect(body.error.message, err.code).not.toContain('shards/');
        expect(body.error.message.length, err.code).toBeGreaterThan(10);
      }
    }
    const unknown = toHttpError(new Error('SELECT * FROM secrets at /srv/app/x.ts:1'));
    expect([unknown.status, unknown.body]).toEqual([500, { error: { code: 'internal', message: expect.not.stringContaining('secrets') } }]);
  });

  it('lists exactly the public codes in the README table, with the status, kind and CLI exit code each produces', () => {
    const table = readmeTable();
    expect([...table.keys()].sort()).toEqual([...PUBLIC_ERROR_CODES].sort());
    const made = producers();
    for (const code of PUBLIC_ERROR_CODES) {
      const from = made.get(code);
      expect(from, `something produces ${code}`).toBeDefined();
      for (const { err, http } of from!) {
        expect({ code, status: http.status, kind: http.kind, exit: exitCodeOf(err) }).toEqual({ code, ...table.get(code)! });
      }
    }
    expect([...made.keys()].filter((c) => !(PUBLIC_ERROR_CODES as readonly string[]).includes(c))).toEqual([]);
  });

  it('answers a start failure the same way: a configuration message as misconfigured, a store error without its key', () => {
    const config = startFailure(new ValidationError('configuration: USAGEDB_API_KEYS: a Worker is public, so API keys are required', 'USAGEDB_API_KEYS'));
    expect([config.status, config.body.error.code, config.body.error.message]).toEqual([
      500,
      'misconfigured',
      'configuration: USAGEDB_API_KEYS: a Worker is public, so API keys are required',
    ]);
    const corrupt = startFailure(new coreErrors.ManifestCorruptError('round1/db.json is unreadable; the database cannot be opened'));
    expect([corrupt.status, corrupt.body.error.code]).toEqual([500, 'manifest_corrupt']);
    expect(corrupt.body.error.message).not.toContain('db.json');
    const down = startFailure(new TransientStoreError('store unavailable reading round1/db.json (503)'));
    expect([down.status, down.body.error.code, down.headers]).toEqual([503, 'store_unavailable', { 'Retry-After': '1' }]);
    expect(down.body.error.message).not.toContain('round1');
  });

  it('gives the OpenAPI error schema the same closed set as an enum', () => {
    const doc = buildOpenApi() as { components: { schemas: { ErrorBody: { properties: { error: { properties: { code: { enum: string[] } } } } } } } };
    expect(doc.components.schemas.ErrorBody.properties.error.properties.code.enum).toEqual([...PUBLIC_ERROR_CODES]);
  });
});

describe('store faults reach clients without object keys; the log has them with the request id', () => {
  const PREFIX = 'round1';

  /**
   * An app over a memory store whose calls matching `match` fail with `fault(key)`: an error
   * naming the very key the store was asked for, as the drivers' errors do.
   */
  async function faultyApp(op: 'get' | 'put', match: RegExp, fault: (key: string) => Error) {
    const plan = new FaultPlan();
    const store = withFaults(new MemoryStore(), (call) => (plan.injector(call) === undefined ? undefined : { type: 'fail', error: fault(call.key) }));
    const inst = await openInstance(store, PREFIX, { commitPolicy: { maxDurationMs: 300, maxAttempts: 3 } });
    const logger = capturingLogger();
    const app = createApp({ db: inst.db, ingestor: inst.ingestor, engine: inst.engine, periods: inst.periods, logger });
    plan.add(op, match, { type: 'fail', error: new Error('replaced by fault(key)') }, 1_000_000);
    return { app, logger, plan };
  }

  async function expectKeyless(res: Response, code: string, logger: CapturingLogger, requestId: string, internal: RegExp) {
    const text = await res.text();
    expect(res.status, text).toBe(toHttpError(code === 'commit_outcome_unknown' ? new AmbiguousWriteError('') : new TransientStoreError('')).status);
    expect(text).not.toContain(`${PREFIX}/`);
    expect(text).not.toMatch(/shards\/|\.useg|current\.json|ambiguous_write|precondition_failed|object_not_found|ECONNRESET|SlowDown/);
    expect(JSON.parse(text)).toEqual({ error: { code, message: expect.any(String) } });
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(res.headers.get('x-request-id')).toBe(requestId);
    const line = logger.lines.find((l) => l.msg === 'request failed');
    expect(line, JSON.stringify(logger.lines)).toMatchObject({ level: 'error', fields: { request_id: requestId, code } });
    expect(`${String(line!.fields.error)} ${String(line!.fields.cause ?? '')}`).toMatch(internal);
  }

  it('an ingest whose segment PUT has an unknown outcome: commit_outcome_unknown, the segment key only in the log', async () => {
    const { app, logger, plan } = await faultyApp(
      'put',
      /\/segments\/raw\/[^/]+\.useg$/,
      (k) => new AmbiguousWriteError(`write of ${k} has an unknown outcome (ECONNRESET)`),
    );
    const res = await app.request('/v1/usage/batch', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-fault-1' },
      body: JSON.stringify({ events: [usage(1)] }),
    });
    expect(plan.fired.length).toBeGreaterThan(0);
    await expectKeyless(res, 'commit_outcome_unknown', logger, 'req-fault-1', new RegExp(`write of ${PREFIX}/shards/\\d+/segments/raw/\\S+\\.useg`));
    expect(logger.lines.find((l) => l.msg === 'request failed')!.fields.internal_code).toBe('ambiguous_write');
  });

  it('a query whose manifest read is throttled: store_unavailable, the manifest key only in the log', async () => {
    const { app, logger, plan } = await faultyApp(
      'get',
      /current\.json$/,
      (k) => new TransientStoreError(`store unavailable reading ${k} (SlowDown)`, { throttled: true }),
    );
    const res = await app.request('/v1/accounts/acct-1/usage?from=2026-01-01&to=2026-02-01', { headers: { 'x-request-id': 'req-fault-2' } });
    expect(plan.fired.length).toBeGreaterThan(0);
    await expectKeyless(res, 'store_unavailable', logger, 'req-fault-2', new RegExp(`reading ${PREFIX}/shards/\\d+/manifest/current\\.json`));
  });

  it('a store-internal code that escapes (object_not_found on a read) is answered as store_unavailable', async () => {
    const { app, logger } = await faultyApp('get', /current\.json$/, (k) => new ObjectNotFoundError(`${k} does not exist`));
    const res = await app.request('/v1/accounts/acct-1/periods/2026-01', { headers: { 'x-request-id': 'req-fault-3' } });
    await expectKeyless(res, 'store_unavailable', logger, 'req-fault-3', new RegExp(`${PREFIX}/shards/\\d+/manifest/current\\.json does not exist`));
    expect(logger.lines.find((l) => l.msg === 'request failed')!.fields.internal_code).toBe('object_not_found');
  });
});
