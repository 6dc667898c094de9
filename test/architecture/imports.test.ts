/**
 * The layering of docs/architecture.md, enforced: every import in src/ points to a lower layer or
 * stays in its own folder; runtime-specific modules (node:*, Workers globals) only in store/fs,
 * runtime/ and cli/; the segment codecs only through their public face; the client imports
 * nothing of the server. A failure names the file, the import and the rule it breaks.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/** Layer of each top-level module of src/, bottom (0) to top. Same rank: no imports between them. */
const LAYERS: Readonly<Record<string, number>> = {
  'errors.ts': 0,
  lib: 0,
  // The console's browser app and its built assets: they import nothing of the server.
  console: 0,
  store: 1,
  model: 2,
  segment: 3,
  manifest: 4,
  objects: 5,
  query: 6,
  ingest: 6,
  period: 7,
  rollup: 7,
  compact: 7,
  jobs: 8,
  export: 8,
  api: 9,
  runtime: 10,
  cli: 11,
  // The client runs in browsers and imports nothing of the server (see the rule below).
  client: 12,
};

/** What outside src/segment/ may import of it: the codecs' public faces. */
const SEGMENT_FACE = new Set(['segment/raw.ts', 'segment/rollup.ts', 'segment/errors.ts', 'segment/deflate.ts', 'segment/gzip.ts']);
/** Where runtime-specific imports (node:*, cloudflare:*) are allowed. */
const RUNTIME_SPECIFIC = [/^store\/fs[^/]*\.ts$/, /^runtime\//, /^cli\//, /^console\/build\.ts$/];

function* sourceFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* sourceFiles(p);
    else if (e.name.endsWith('.ts')) yield p;
  }
}

/** Module specifiers of static and dynamic imports and re-exports (comments stripped). */
function importsOf(source: string): string[] {
  return importsWithKind(source).map((i) => i.spec);
}

/** Imports with whether they are type-only (`import type ...`: erased, no runtime dependency). */
function importsWithKind(source: string): { spec: string; typeOnly: boolean }[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const out: { spec: string; typeOnly: boolean }[] = [];
  for (const m of code.matchAll(/\b(import|export)\s([^'"]*?)\bfrom\s*['"]([^'"]+)['"]/g))
    out.push({ spec: m[3]!, typeOnly: m[1] === 'import' && /^type\s/.test(m[2]!) });
  for (const m of code.matchAll(/\bimport\s*['"]([^'"]+)['"]/g)) out.push({ spec: m[1]!, typeOnly: false });
  for (const m of code.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push({ spec: m[1]!, typeOnly: false });
  return out;
}

const layerOf = (rel: string): string => (rel.includes('/') ? rel.slice(0, rel.indexOf('/')) : rel);

/** Every broken rule in src/, as readable lines. */
function violations(): string[] {
  const found: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = relative(SRC, file).split('\\').join('/');
    const fromLayer = layerOf(from);
    const rank = LAYERS[fromLayer];
    if (rank === undefined) {
      found.push(`${from}: src/${fromLayer} has no layer in LAYERS (docs/architecture.md)`);
      continue;
    }
    for (const { spec, typeOnly } of importsWithKind(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('node:') || spec.startsWith('cloudflare:')) {
        if (!RUNTIME_SPECIFIC.some((r) => r.test(from))) found.push(`${from} imports ${spec}: runtime-specific code belongs in store/fs, runtime/ or cli/`);
        continue;
      }
      if (!spec.startsWith('.')) {
        if (fromLayer === 'client') found.push(`${from} imports package ${spec}: the client has no dependencies`);
        continue;
      }
      const to = relative(SRC, resolve(dirname(file), spec))
        .split('\\')
        .join('/');
      if (to.startsWith('..')) {
        found.push(`${from} imports ${spec}: outside src/`);
        continue;
      }
      const toLayer = layerOf(to);
      if (toLayer === fromLayer) continue;
      // The console's browser app takes its API types from the server's schemas: erased at build.
      if (fromLayer === 'console' && toLayer === 'api' && typeOnly) continue;
      if (fromLayer === 'client') {
        found.push(`${from} imports ${to}: the client imports nothing of the server`);
        continue;
      }
      const toRank = LAYERS[toLayer];
      if (toRank === undefined || toRank >= rank) {
        found.push(`${from} imports ${to}: ${fromLayer} (layer ${rank}) may only import lower layers, not ${toLayer} (layer ${toRank ?? '?'})`);
      }
      if (toLayer === 'segment' && !SEGMENT_FACE.has(to))
        found.push(`${from} imports ${to}: use the segment codecs' public face (${[...SEGMENT_FACE].join(', ')})`);
    }
  }
  return found;
}

describe('architecture', () => {
  it('imports point only downward, runtime-specific code stays in its places, the segment codecs are used through their face', () => {
    expect(violations()).toEqual([]);
  });

  it('the rule catches what it should (checked on sample sources)', () => {
    expect(
      importsOf(
        "import { a } from '../x.ts';\nimport type { B } from \"./y.ts\";\nexport { c } from '../z.ts';\nimport '../side.ts';\nconst m = await import('../dyn.ts');\n// import { no } from '../comment.ts';",
      ),
    ).toEqual(['../x.ts', './y.ts', '../z.ts', '../side.ts', '../dyn.ts']);
    expect(LAYERS.manifest).toBeGreaterThan(LAYERS.store!);
    expect(LAYERS.query).toBe(LAYERS.ingest);
  });
});
