/**
 * How users start the Node server: `npm start` (package.json), the container (infra/Dockerfile)
 * and `usagedb serve` (which re-executes node with src/runtime/node-settings.ts). The first two
 * run `node <flags> src/runtime/node.ts` (the container its build, dist/lib/runtime/node.js) with an allocator setting in the environment. The
 * benchmarks start theirs with the same flags and environment, read from package.json, so they
 * measure what users run.
 *
 * The flag: --max-semi-space-size=8 caps V8's young generation at 2 x 8 MB (Node 24 lets it grow to
 * 2 x 32 MB; a lightly loaded server sits at 2 x 16 MB). A fresh process's first ingest on S3 makes
 * hundreds of GETs (dedupe key filters of compacted segments, hashes of recent ones); the AWS SDK
 * allocates ~0.5 MB of short-lived objects per GET (sampling heap profile: 135 of 234 MB allocated
 * during one first ingest), many requests in flight at once keep them alive across scavenges, and
 * V8 answers by growing the young generation to 2 x 32 MB, which it keeps while idle: ~35 MB more
 * RSS on a 5M-event window (bench:scale, MinIO; 233 -> 191 MB with the cap). The directory store
 * allocates little per read and never grows it. Sustained ingest throughput did not change.
 *
 * The flag --expose-gc lets the Node runtime run one memory-reducing full GC right after a burst of
 * store GETs (src/runtime/collect-after-reads.ts): V8 otherwise keeps the old-space pages and the
 * young generation the burst grew while the process idles (MinIO, 5M events in the window: RSS
 * after the first ingest ~167 -> ~140 MB; docs/deploy.md "Memory settings").
 *
 * The environment: MALLOC_MMAP_THRESHOLD_=69632 makes glibc serve every allocation above 68 KB
 * (socket reads, response bodies, decoded filter blocks) from its own mapping, returned to the OS
 * when freed. By default glibc raises that threshold as large blocks are freed and then serves
 * them from its heap, where freed blocks between live ones stay resident: ~15 MB at startup and
 * ~20 MB more after the first ingest above (MinIO, 5M events: 197 -> 177 MB). Other C libraries
 * ignore the variable. The threshold sits above zlib's working buffers (64 KB each, four per
 * deflate call: every column of every segment): at 65536, as first shipped, each call mapped,
 * faulted in and unmapped them (~150 us instead of ~30 for a small column; 10 x 32 ingest on the
 * directory store lost ~25 % of its events/s). MALLOC_TRIM_THRESHOLD_=524288 keeps up to 512 KB
 * free at the heap's top instead of giving it back after every call (a fixed mmap threshold
 * otherwise leaves the trim threshold at 128 KB, below one call's 256 KB).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../..');
/** The server's entry: the sources (`npm start`) or their build (the container image). */
const ENTRIES = ['src/runtime/node.ts', 'dist/lib/runtime/node.js'];

/** The node flags between `node` and the entry of a command line like `exec node --x src/runtime/node.ts`. */
export function nodeFlagsOf(command: readonly string[]): string[] {
  const node = command.indexOf('node');
  const entry = command.findIndex((w) => ENTRIES.includes(w));
  if (node < 0 || entry < node) throw new Error(`not a command that starts ${ENTRIES.join(' or ')} with node: ${command.join(' ')}`);
  return command.slice(node + 1, entry);
}

function startScript(): string[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  const start = pkg.scripts?.start;
  if (start === undefined) throw new Error('package.json has no start script');
  return start.trim().split(/\s+/);
}

/** The node flags `npm start` passes (package.json scripts.start). */
export function startScriptFlags(): string[] {
  return nodeFlagsOf(startScript());
}

/** The environment `npm start` sets for node (`env K=V ... node`). */
export function startScriptEnv(): Record<string, string> {
  const words = startScript();
  const out: Record<string, string> = {};
  const env = words.indexOf('env');
  if (env < 0) return out;
  for (const w of words.slice(env + 1, words.indexOf('node'))) {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new Error(`package.json start: not K=V after env: ${w}`);
    out[w.slice(0, eq)] = w.slice(eq + 1);
  }
  return out;
}

/** The variables the container's ENV instructions set (infra/Dockerfile). */
export function dockerfileEnv(): Record<string, string> {
  const text = readFileSync(join(ROOT, 'infra/Dockerfile'), 'utf8').replace(/\\\n\s*/g, ' ');
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('ENV ')) continue;
    for (const w of line.slice(4).trim().split(/\s+/)) {
      const eq = w.indexOf('=');
      if (eq > 0) out[w.slice(0, eq)] = w.slice(eq + 1);
    }
  }
  return out;
}

/** The node flags of the container's CMD (infra/Dockerfile, exec form). */
export function dockerfileFlags(): string[] {
  const text = readFileSync(join(ROOT, 'infra/Dockerfile'), 'utf8');
  const cmd = text.split('\n').find((l) => l.startsWith('CMD '));
  if (cmd === undefined) throw new Error('infra/Dockerfile has no CMD');
  return nodeFlagsOf(JSON.parse(cmd.slice(4)) as string[]);
}
