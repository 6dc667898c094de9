/**
 * The Node server's V8 flags and allocator setting as users start it: `npm start` and the
 * container pass the same ones. The flags cap the young generation under a burst like a fresh
 * process's first ingest on S3 (many requests in flight, each with short-lived objects) — without
 * the cap V8 grows it for good — and expose `gc`, which the Node runtime calls once after such a
 * burst (src/runtime/collect-after-reads.ts); the allocator setting returns freed large buffers to
 * the OS (test/support/server-command.ts says what each costs in RSS without it).
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { SERVER_ENV, SERVER_NODE_FLAGS } from '../../src/runtime/node-settings.ts';
import { dockerfileEnv, dockerfileFlags, startScriptEnv, startScriptFlags } from '../support/server-command.ts';

/** Allocates like many overlapping requests, then prints the young generation's size in bytes. */
const BURST = `
const live = [];
for (let i = 0; i < 6000; i++) {
  const req = [];
  for (let j = 0; j < 400; j++) req.push({ a: j, b: 'x' + j, c: [j, j + 1] });
  live.push(req);
  if (live.length > 150) live.shift();
}
const s = require('node:v8').getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
process.stdout.write(String(s.space_size));
`;

/** Allocates 1,000 pairs of 100 KB buffers, drops one of each pair, and prints RSS and live buffer bytes. */
const HALF_FREED = `
const keep = [];
let drop = [];
for (let i = 0; i < 1000; i++) { keep.push(Buffer.alloc(100_000, 1)); drop.push(Buffer.alloc(100_000, 1)); }
drop = null;
globalThis.gc();
globalThis.gc();
setTimeout(() => {
  globalThis.gc();
  const m = process.memoryUsage();
  process.stdout.write(JSON.stringify({ rss: m.rss, live: m.arrayBuffers, kept: keep.length }));
}, 200);
`;

/** RSS beyond the live buffers after half of 200 MB of 100 KB buffers was freed. */
function retainedAfterHalfFreed(env: NodeJS.ProcessEnv): number {
  const out = execFileSync(process.execPath, ['--expose-gc', '-e', HALF_FREED], { encoding: 'utf8', env });
  const m = JSON.parse(out) as { rss: number; live: number };
  return m.rss - m.live;
}

/** Deflates a 700-byte column 1,000 times (as segment encoding does) and prints the minor page faults it took. */
const DEFLATES = `
const { deflateRawSync } = require('node:zlib');
const d = Buffer.from(Array.from({ length: 700 }, (_, i) => (i * 7 + (i >> 3)) % 23));
for (let i = 0; i < 100; i++) deflateRawSync(d, { level: 1 });
const before = process.resourceUsage().minorPageFault;
for (let i = 0; i < 1000; i++) deflateRawSync(d, { level: 1 });
process.stdout.write(String(process.resourceUsage().minorPageFault - before));
`;

function faultsOfDeflates(env: NodeJS.ProcessEnv): number {
  return Number(execFileSync(process.execPath, ['-e', DEFLATES], { encoding: 'utf8', env }));
}

const glibc = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime !== undefined;

function youngGenerationAfterBurst(flags: readonly string[]): number {
  return Number(execFileSync(process.execPath, [...flags, '-e', BURST], { encoding: 'utf8' }));
}

const MB = 1024 * 1024;

describe('server node flags', () => {
  it('npm start and the container start the server with the same flags, a young-generation cap among them', () => {
    expect(dockerfileFlags()).toEqual(startScriptFlags());
    expect(startScriptFlags()).toContain('--max-semi-space-size=8');
    // `usagedb serve` re-executes itself with runtime/node-settings.ts: the same ones.
    expect(startScriptFlags()).toEqual([...SERVER_NODE_FLAGS]);
  });

  it('the flags expose gc, so the server collects after a burst of store reads (and without them it would not)', () => {
    expect(startScriptFlags()).toContain('--expose-gc');
    const typeOfGc = (flags: readonly string[]) => execFileSync(process.execPath, [...flags, '-e', 'process.stdout.write(typeof gc)'], { encoding: 'utf8' });
    expect(typeOfGc(startScriptFlags())).toBe('function');
    expect(typeOfGc([])).toBe('undefined');
  });

  it('the flags keep the young generation at 2 x 8 MB through a burst that grows it without them', () => {
    expect(youngGenerationAfterBurst([])).toBeGreaterThan(16 * MB);
    expect(youngGenerationAfterBurst(startScriptFlags())).toBeLessThanOrEqual(16 * MB);
  });

  it('npm start and the container set the same allocator environment', () => {
    expect(startScriptEnv()).toEqual({ MALLOC_MMAP_THRESHOLD_: '69632', MALLOC_TRIM_THRESHOLD_: '524288' });
    expect(startScriptEnv()).toEqual(SERVER_ENV);
    expect(dockerfileEnv()).toMatchObject(startScriptEnv());
  });

  // glibc only: other C libraries ignore the variable (and manage freed blocks their own way).
  it.skipIf(!glibc)('with that environment, freed 100 KB buffers between live ones go back to the OS', () => {
    const without = { ...process.env };
    delete without.MALLOC_MMAP_THRESHOLD_;
    delete without.MALLOC_TRIM_THRESHOLD_;
    expect(retainedAfterHalfFreed({ ...without, ...startScriptEnv() })).toBeLessThan(80 * MB);
    expect(retainedAfterHalfFreed(without)).toBeGreaterThan(120 * MB);
  });

  // A threshold at or below zlib's 64 KB buffers maps, faults in and unmaps four of them on every
  // deflate call (measured here: ~53 faults per call vs ~7; ~5x slower on small columns).
  it.skipIf(!glibc)('with that environment, deflating small columns reuses heap memory instead of mapping it per call', () => {
    const without = { ...process.env };
    delete without.MALLOC_MMAP_THRESHOLD_;
    delete without.MALLOC_TRIM_THRESHOLD_;
    const plain = faultsOfDeflates(without);
    const withStart = faultsOfDeflates({ ...without, ...startScriptEnv() });
    const mappedPerCall = faultsOfDeflates({ ...without, MALLOC_MMAP_THRESHOLD_: '65536' });
    expect(withStart).toBeLessThan(plain * 2 + 5_000);
    expect(mappedPerCall).toBeGreaterThan(withStart * 3);
  });
});
