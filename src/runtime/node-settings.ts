/**
 * The node flags and allocator environment the Node server runs with: `npm start` (package.json),
 * the container (infra/Dockerfile) and `usagedb serve` (which re-executes itself with them).
 * test/runtime/server-flags.test.ts checks that package.json and the Dockerfile carry exactly
 * these; test/support/server-command.ts says what each one is for and what it costs without it.
 */

/**
 * V8's young generation capped at 2 x 8 MB (a fresh process's first ingest on S3 grows it for
 * good); `gc` exposed for one memory-reducing collection after a burst of store reads
 * (runtime/collect-after-reads.ts).
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8', '--expose-gc'];

/**
 * glibc: blocks above 68 KB mapped on their own and returned to the OS when freed; zlib's 64 KB
 * buffers stay on the heap, which keeps up to 512 KB free at its top. Other C libraries ignore them.
 */
export const SERVER_ENV: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: '69632',
  MALLOC_TRIM_THRESHOLD_: '524288',
};
