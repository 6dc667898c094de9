/**
 * Issue 16 item 9, as `npm start` runs: a 64 MiB body sent to POST /v1/query/json of a real Node
 * server process is answered 413 without being buffered — the server's resident memory (its peak,
 * reset just before the upload, and sampled during it) grows by less than 50 MB. Before the limit
 * the body was buffered whole (+165 MB RSS).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const entry = join(import.meta.dirname, '../../src/runtime/node.ts');
const MiB = 1024 * 1024;
let child: ChildProcess;
let port: number;
let output = '';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** kB of a field of /proc/<pid>/status (VmRSS, VmHWM). */
function procKb(field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no ${field} in /proc/${child.pid}/status`);
  return Number(m[1]);
}

/** Resets the peak RSS of the server process (Linux: "5" to clear_refs); answers whether it could. */
function resetPeak(): boolean {
  try {
    writeFileSync(`/proc/${child.pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'usagedb-limit-'));
  child = spawn(process.execPath, [entry], {
    env: { PATH: process.env.PATH ?? '', PORT: String(port), USAGEDB_DATA_DIR: dir, USAGEDB_JOBS: 'false', USAGEDB_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) break;
    } catch {
      // not yet
    }
    if (i > 400) throw new Error(`server did not start: ${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}, 60_000);

afterAll(() => {
  child.kill('SIGKILL');
});

/**
 * Uploads `total` bytes to /v1/query/json (chunked, or with a Content-Length), as fast as the
 * socket takes them, until the answer arrives or the server closes; samples the server's RSS
 * meanwhile. With `readDelayMs`, the client reads nothing for that long while it keeps sending
 * (a busy client). Answers the status line and the highest RSS seen (kB).
 */
function upload(
  total: number,
  framing: 'chunked' | 'length',
  readDelayMs = 0,
): Promise<{ statusLine: string; maxRssKb: number; connection: string | undefined }> {
  return new Promise((resolve) => {
    let maxRssKb = procKb('VmRSS');
    const sampler = setInterval(() => (maxRssKb = Math.max(maxRssKb, procKb('VmRSS'))), 5);
    const socket = connect(port, '127.0.0.1');
    const payload = Buffer.alloc(MiB, 0x20);
    const chunk = framing === 'chunked' ? Buffer.concat([Buffer.from(`${MiB.toString(16)}\r\n`), payload, Buffer.from('\r\n')]) : payload;
    let received = '';
    let sent = 0;
    let stopped = false;
    const finish = () => {
      if (stopped) return;
      stopped = true;
      // Give the server a moment to drain what is in flight, then read the peak.
      setTimeout(() => {
        clearInterval(sampler);
        socket.destroy();
        const headers = received.slice(0, received.indexOf('\r\n\r\n'));
        resolve({ statusLine: headers.split('\r\n')[0] ?? '', maxRssKb, connection: /^connection: (.*)$/im.exec(headers)?.[1]?.trim() });
      }, 300);
    };
    const pump = () => {
      while (!stopped && sent < total) {
        sent += MiB;
        if (!socket.write(chunk)) return void socket.once('drain', pump);
      }
      if (!stopped && framing === 'chunked') socket.write('0\r\n\r\n');
    };
    if (readDelayMs > 0) {
      socket.pause();
      setTimeout(() => socket.resume(), readDelayMs);
    }
    socket.on('connect', () => {
      socket.write(
        `POST /v1/query/json HTTP/1.1\r\nHost: usagedb.test\r\nContent-Type: application/json\r\n${framing === 'chunked' ? 'Transfer-Encoding: chunked' : `Content-Length: ${total}`}\r\n\r\n`,
      );
      pump();
    });
    socket.on('data', (d) => {
      received += d.toString('latin1');
      if (received.includes('\r\n\r\n')) finish();
    });
    socket.on('error', finish);
    socket.on('close', finish);
  });
}

describe('a 64 MiB body to /v1/query/json of a server process', () => {
  for (const framing of ['chunked', 'length'] as const) {
    it(`${framing === 'chunked' ? 'chunked' : 'with Content-Length'}: 413 and the server's RSS grows by less than 50 MB`, async () => {
      // Warm the route so its code is loaded before the baseline.
      await fetch(`http://127.0.0.1:${port}/v1/query/json`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"from": "2026-01-01", "to": "2026-01-02"}',
      });
      const baseKb = procKb('VmRSS');
      const peakReset = resetPeak();
      const r = await upload(64 * MiB, framing);
      expect(r.statusLine).toBe('HTTP/1.1 413 Payload Too Large');
      expect(r.connection).toBe('close');
      const peakKb = peakReset ? Math.max(procKb('VmHWM'), r.maxRssKb) : r.maxRssKb;
      expect((peakKb - baseKb) / 1024).toBeLessThan(50);
      // And the server still answers.
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    }, 60_000);
  }

  it('a client that reads its answer late still gets the 413: the server reads and discards the rest of the upload before it closes', async () => {
    // Without the lingering close, the server closed with unread bytes, the kernel reset the
    // connection, and the client's next write failed before it read the answer: no status at all.
    for (const framing of ['length', 'chunked'] as const) {
      const r = await upload(64 * MiB, framing, 300);
      expect(r.statusLine, framing).toBe('HTTP/1.1 413 Payload Too Large');
      expect(r.connection, framing).toBe('close');
    }
  }, 60_000);
});
