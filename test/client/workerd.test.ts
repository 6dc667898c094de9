/**
 * The client inside workerd without `nodejs_compat` (so no `process`, no node:*): src/client is
 * transpiled file by file with TypeScript (relative `.ts` imports rewritten to `.js`, as a build
 * would), loaded by miniflare next to a small Worker that ingests, tracks, queries and catches a
 * typed error against a real server over HTTP on 127.0.0.1.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import ts from 'typescript';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance, storedEvents } from '../support/instance.ts';
import { listen } from './listen.ts';

const clientDir = fileURLToPath(new URL('../../src/client/', import.meta.url));

const WORKER = `
import { UsageDbClient, UsageDbError } from './client/index.js';

export default {
  async fetch(request, env) {
    const db = new UsageDbClient({ baseUrl: env.USAGEDB_URL, maxBatchEvents: 40 });
    const base = { account_id: 'edge', product_id: 'chat', meter_id: 'tokens', source: 'worker', unit: 'tokens' };
    const events = Array.from({ length: 100 }, (_, i) => ({ ...base, timestamp_ms: Date.UTC(2026, 0, 3) + i, quantity: 10n ** 20n + BigInt(i) }));
    const report = await db.ingest(events);
    const tracked = [1, 2, 3].map((q) => db.track({ ...base, timestamp_ms: Date.UTC(2026, 0, 4), quantity: q }));
    await db.close();
    const usage = await db.usage('edge', { from: '2026-01-01', to: '2026-02-01' });
    let error = null;
    try {
      await db.usage('edge', { from: 'not-a-date', to: '2026-02-01' });
    } catch (e) {
      error = { typed: e instanceof UsageDbError, name: e.name, code: e.code, status: e.status, field: e.details?.field };
    }
    return Response.json({
      accepted: report.accepted,
      batches: report.batches,
      ids: report.outcomes.map((o) => o.event_id).concat(tracked),
      lines: usage.lines,
      error,
      hasProcess: typeof process !== 'undefined',
    });
  },
};
`;

it('runs in workerd without nodejs_compat: ingest in batches, track + close, a query, a typed error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'usagedb-client-workerd-'));
  const inst = await openInstance(new MemoryStore(), 'workerd');
  const http = await listen(inst);
  const { Miniflare } = await import('miniflare');
  let mf: InstanceType<typeof Miniflare> | undefined;
  try {
    const modules: { type: 'ESModule'; path: string; contents: string }[] = [{ type: 'ESModule', path: join(dir, 'worker.js'), contents: WORKER }];
    for (const f of readdirSync(clientDir).filter((n) => n.endsWith('.ts'))) {
      const out = ts.transpileModule(readFileSync(join(clientDir, f), 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true, rewriteRelativeImportExtensions: true },
        fileName: f,
      }).outputText;
      expect(out, f).not.toMatch(/from '\.\/[a-z-]+\.ts'/);
      modules.push({ type: 'ESModule', path: join(dir, 'client', f.replace(/\.ts$/, '.js')), contents: out });
    }
    mf = new Miniflare({
      modules,
      modulesRoot: dir,
      compatibilityDate: '2025-09-01',
      compatibilityFlags: [],
      bindings: { USAGEDB_URL: http.url },
      cf: false,
      host: '127.0.0.1',
    });
    const res = await mf.dispatchFetch('http://worker.local/');
    const body = (await res.json()) as { accepted: number; batches: number; ids: string[]; lines: unknown[]; error: unknown; hasProcess: boolean };
    expect(res.status).toBe(200);
    expect(body.hasProcess).toBe(false);
    expect(body).toMatchObject({ accepted: 100, batches: 3 });
    // 100 × 10^20 + (0 + 1 + ... + 99), plus the three tracked events.
    expect(body.lines).toEqual([{ quantity: (100n * 10n ** 20n + 4950n + 6n).toString(), count: 103, unit: 'tokens' }]);
    expect(body.error).toEqual({ typed: true, name: 'BadRequestError', code: 'invalid_request', status: 400, field: 'from' });
    expect(body.ids.every((id) => /^[0-9A-HJKMNP-TV-Z]{26}$/.test(id))).toBe(true);
    expect((await storedEvents(inst.db)).map((e) => e.event_id).sort()).toEqual([...body.ids].sort());
  } finally {
    await mf?.dispose();
    await http.close();
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
