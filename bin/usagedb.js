#!/usr/bin/env node
// The `usagedb` command. Installed from the package, it runs the build (dist/lib/cli/main.js,
// made by `npm pack` through the prepack script). In a checkout of the repository, where src/
// exists, it runs the TypeScript sources instead (`npx usagedb` there runs the project's Node 24,
// which strips types), so a checkout never runs a stale build.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
await import(existsSync(source) ? source.href : new URL('../dist/lib/cli/main.js', import.meta.url).href);
