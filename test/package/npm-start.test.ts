/**
 * `npm start` as a user or a process manager runs it: npm, its shell, the server. A SIGTERM or
 * SIGINT sent to npm alone (not to the process group, as a supervisor or `kill <pid>` does) must
 * stop the server gracefully: npm forwards the signal to its child only, and a shell in between
 * used to die without passing it on, leaving the server orphaned and still serving on the port.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { childEnv, freePort, portIsFree, type Started, start, stop, waitForHttp } from '../support/processes.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Every live descendant of `pid` (Linux /proc: parent pid is field 4 of /proc/<pid>/stat). */
function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command name (field 2) may hold spaces and parentheses: fields after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(name), Number(fields[1]));
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, parent] of parentOf) {
      if (parent === p) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return out;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('npm start', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`ends cleanly when npm gets ${signal}: the server drains and exits, no process is left, the port is free`, async () => {
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), 'usagedb-npm-start-'));
      const s = start('npm', ['start'], { cwd: ROOT, env: childEnv({ PORT: String(port), USAGEDB_DATA_DIR: dir, USAGEDB_JOBS: 'false' }) });
      let tree: number[] = [];
      try {
        expect((await healthy(`http://127.0.0.1:${port}/health`, s)).status).toBe(200);
        tree = descendants(s.child.pid!);
        expect(tree.length).toBeGreaterThan(0);
        s.child.kill(signal);
        const exit = await Promise.race([s.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 20_000))]);
        expect(exit, s.output()).not.toBe('timeout');
        // The server logged its graceful shutdown on the signal npm passed on.
        expect(s.output()).toContain(`"msg":"shutting down","signal":"${signal}"`);
        expect(tree.filter(alive), `processes left behind by npm start:\n${s.output()}`).toEqual([]);
        expect(await portIsFree(port)).toBe(true);
      } finally {
        await stop(s);
        // A failed run must not leave its orphans serving: they are this test's own processes.
        for (const pid of tree.filter(alive)) process.kill(pid, 'SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      }
    }, 60_000);
  }
});

/** Polls until the server answers 200 (a 503 means its store has not answered yet), or 60 s pass. */
async function healthy(url: string, s: Started): Promise<Response> {
  const until = Date.now() + 60_000;
  for (;;) {
    const r = await waitForHttp(url, s);
    if (r.status === 200 || Date.now() > until) return r;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
