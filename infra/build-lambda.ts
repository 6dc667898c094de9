/**
 * `npm run build:lambda`: one ESM file for AWS Lambda (Node 22 or 24 runtime), dist/lambda/index.mjs,
 * with every dependency bundled in (the AWS SDK too: the bundle pins the version the tests ran).
 * Handlers: `index.handler` (HTTP) and `index.jobs` (EventBridge schedule). Zip it and upload:
 *   cd dist/lambda && zip -q usagedb-lambda.zip index.mjs
 */
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const outdir = `${root}dist/lambda`;
rmSync(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: ['src/runtime/lambda.ts'],
  outfile: `${outdir}/index.mjs`,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  minify: false,
  sourcemap: false,
  legalComments: 'none',
  metafile: true,
  // Bundled CommonJS dependencies call require() for Node built-ins; an ESM file has none.
  banner: { js: "import { createRequire as __usagedbCreateRequire } from 'node:module'; const require = __usagedbCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`dist/lambda/index.mjs: ${(bytes / 1024 / 1024).toFixed(1)} MiB (handlers: index.handler, index.jobs)`);
