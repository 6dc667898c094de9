/**
 * The short chaos run of CI (`npm run chaos` runs long ones): one round of 15 s with two server
 * processes on one MinIO (its own process, killed and restarted on the same data directory and
 * port), at least one server SIGKILL and one MinIO SIGKILL, jobs running; afterwards every
 * acknowledged event is stored exactly once with its quantity and verify reports drift 0.
 */
import { expect, it } from 'vitest';
import { roundOk, runChaos } from './chaos.ts';

it('one short chaos round: 0 lost, 0 duplicated, 0 changed, drift 0 on every account', async () => {
  const lines: string[] = [];
  const result = await runChaos({ rounds: 1, seconds: 15, seed: 16, servers: 2, concurrency: 3, print: (l) => lines.push(l) });
  console.log(lines.join('\n'));
  const [f] = result.rounds;
  expect(f).toBeDefined();
  expect(f!.kills.minio).toBeGreaterThanOrEqual(1);
  expect(f!.kills.servers).toBeGreaterThanOrEqual(1);
  expect(f!.acked).toBeGreaterThan(0);
  expect({ lost: f!.lost, duplicated: f!.duplicated, changed: f!.changed, unexpected: f!.unexpected }).toEqual({
    lost: 0,
    duplicated: 0,
    changed: 0,
    unexpected: 0,
  });
  expect(f!.drift_nonzero).toEqual([]);
  expect(f!.total_mismatch).toEqual([]);
  expect(f!.anomalies).toEqual([]);
  expect(roundOk(f!)).toBe(true);
  expect(f!.chaos_seconds).toBeLessThanOrEqual(45);
}, 240_000);
