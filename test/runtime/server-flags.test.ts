/**
 * The Node server's V8 flags as users start it: `npm start` and the container pass the same ones,
 * and they cap the young generation under a burst like a fresh process's first ingest on S3 (many
 * requests in flight, each with short-lived objects) — without the cap V8 grows it for good
 * (test/support/server-command.ts says why that costs ~35 MB of RSS).
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { dockerfileFlags, startScriptFlags } from '../support/server-command.ts';

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

function youngGenerationAfterBurst(flags: readonly string[]): number {
  return Number(execFileSync(process.execPath, [...flags, '-e', BURST], { encoding: 'utf8' }));
}

const MB = 1024 * 1024;

describe('server node flags', () => {
  it('npm start and the container start the server with the same flags, a young-generation cap among them', () => {
    expect(dockerfileFlags()).toEqual(startScriptFlags());
    expect(startScriptFlags()).toContain('--max-semi-space-size=8');
  });

  it('the flags keep the young generation at 2 x 8 MB through a burst that grows it without them', () => {
    expect(youngGenerationAfterBurst([])).toBeGreaterThan(16 * MB);
    expect(youngGenerationAfterBurst(startScriptFlags())).toBeLessThanOrEqual(16 * MB);
  });
});
