/**
 * A test-only Worker that runs the store conformance cases (conformance-cases.ts) inside workerd
 * against R2 bucket bindings — miniflare's R2 simulation behind workerd's real R2 binding code.
 * r2-binding.test.ts bundles it with wrangler (the project's wrangler.toml: alias, nodejs_compat)
 * and asks for each case over HTTP, so every case is one vitest test with the same name as on
 * the other drivers.
 *
 *   GET  /cases          → the case names, in order
 *   POST /run?case=NAME  → {ok: true, ms} or {ok: false, error, stack}
 *   POST /run-all        → {passed, failed, results: [{name, ok, error?}]}
 *
 * Bindings: BUCKET and BUCKET_OTHER, two bindings of one bucket (the cases' second client).
 */
import { isR2Bucket, R2BindingStore } from '../../src/store/r2-binding.ts';
import { STORE_CASES, type StoreCase } from './conformance-cases.ts';

interface Env {
  readonly BUCKET?: unknown;
  readonly BUCKET_OTHER?: unknown;
}

interface CaseResult {
  readonly name: string;
  readonly ok: boolean;
  readonly ms: number;
  readonly error?: string;
  readonly stack?: string;
}

async function runCase(c: StoreCase, env: Env): Promise<CaseResult> {
  if (!isR2Bucket(env.BUCKET) || !isR2Bucket(env.BUCKET_OTHER)) {
    return { name: c.name, ok: false, ms: 0, error: 'the Worker has no R2 bindings BUCKET and BUCKET_OTHER' };
  }
  const started = Date.now();
  try {
    await c.run({ store: new R2BindingStore(env.BUCKET), other: new R2BindingStore(env.BUCKET_OTHER), prefix: `conf-${crypto.randomUUID()}` });
    return { name: c.name, ok: true, ms: Date.now() - started };
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    return { name: c.name, ok: false, ms: Date.now() - started, error: `${e.name}: ${e.message}`, ...(e.stack === undefined ? {} : { stack: e.stack }) };
  }
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === '/cases') return Response.json(STORE_CASES.map((c) => c.name));
    if (url.pathname === '/run' && request.method === 'POST') {
      const name = url.searchParams.get('case');
      const c = STORE_CASES.find((x) => x.name === name);
      if (c === undefined) return Response.json({ ok: false, error: `no case named ${JSON.stringify(name)}` }, { status: 404 });
      return Response.json(await runCase(c, env));
    }
    if (url.pathname === '/run-all' && request.method === 'POST') {
      const results: CaseResult[] = [];
      for (const c of STORE_CASES) results.push(await runCase(c, env));
      return Response.json({ passed: results.filter((r) => r.ok).length, failed: results.filter((r) => !r.ok).length, results });
    }
    return Response.json({ error: `no route ${request.method} ${url.pathname}` }, { status: 404 });
  },
};
