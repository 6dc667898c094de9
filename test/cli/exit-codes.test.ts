/**
 * CLI exit codes follow from the error's kind, like HTTP statuses: user → 1, retryable,
 * outcome_unknown and fatal → 3; a bad command line 2, a bad USAGEDB_* variable 3, anything
 * untyped 1. Checked on the function and through whole commands on a memory store.
 */
import { describe, expect, it } from 'vitest';
import { EXIT, exitCodeOf, runCli } from '../../src/cli/cli.ts';
import { CliConfigError, CliUsageError } from '../../src/cli/context.ts';
import * as coreErrors from '../../src/errors.ts';
import { NotFoundError, UsageDbError, ValidationError, type ErrorKind } from '../../src/errors.ts';
import { SegmentCorruptError } from '../../src/segment/errors.ts';
import * as segmentErrors from '../../src/segment/errors.ts';
import * as storeErrors from '../../src/store/errors.ts';
import { TransientStoreError } from '../../src/store/errors.ts';
import { FaultPlan, withFaults } from '../../src/store/faulty.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import type { ObjectStore } from '../../src/store/types.ts';
import { openInstance, postBatch, usage } from '../support/instance.ts';
import { Capture } from './cli-support.ts';

const BY_KIND: Record<ErrorKind, number> = { user: EXIT.problems, retryable: EXIT.store, outcome_unknown: EXIT.store, fatal: EXIT.store };

async function run(argv: string[], store: ObjectStore) {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runCli(argv, { stdout, stderr, env: { USAGEDB_PREFIX: 'db' }, store });
  return { code, stderr: stderr.text };
}

describe('CLI exit codes from the error kind', () => {
  it('maps every typed error class by its kind', () => {
    let n = 0;
    for (const mod of [coreErrors, storeErrors, segmentErrors]) {
      for (const value of Object.values(mod)) {
        if (typeof value !== 'function' || !(value.prototype instanceof UsageDbError)) continue;
        const err = new (value as unknown as new (message: string) => UsageDbError)('m');
        if (typeof err.code !== 'string') continue;
        expect(exitCodeOf(err), err.code).toBe(BY_KIND[err.kind]);
        n++;
      }
    }
    expect(n).toBeGreaterThanOrEqual(17);
  });

  it('keeps the documented codes for what is not a kind: usage 2, configuration 3, untyped 1', () => {
    expect(exitCodeOf(new CliUsageError('--nope'))).toBe(2);
    expect(exitCodeOf(new CliConfigError('no database'))).toBe(3);
    expect(exitCodeOf(new ValidationError('configuration: USAGEDB_SHARDS: too small', 'USAGEDB_SHARDS'))).toBe(3);
    expect(exitCodeOf(new ValidationError('from: bad', 'from'))).toBe(1);
    expect(exitCodeOf(new NotFoundError('no such generation'))).toBe(1);
    expect(exitCodeOf(new RangeError('quantity out of range'))).toBe(1);
  });

  it('through whole commands: an unknown segment exits 1, a corrupt one 3 (fatal), a throttled store 3 (retryable)', async () => {
    const plan = new FaultPlan();
    const base = new MemoryStore();
    const store = withFaults(base, plan.injector);
    const inst = await openInstance(store, 'db', { shards: 1, buckets: 2 });
    expect((await postBatch(inst.app, [usage(1), usage(2)])).body.accepted).toBe(2);
    const seg = (await inst.db.shards[0]!.revalidate()).manifest.segments[0]!;

    const unknown = await run(['inspect-segment', 'no-such-segment'], store);
    expect(unknown.code).toBe(EXIT.problems);
    expect(unknown.stderr).toContain('no shard lists segment');

    const bytes = (await base.get(seg.key))!;
    if (bytes.notModified) throw new Error('unexpected 304');
    const bad = bytes.body.slice();
    bad[Math.floor(seg.bytes / 2)]! ^= 0x5a;
    await base.put(seg.key, bad);
    const corrupt = await run(['inspect-segment', seg.id], store);
    expect(corrupt.code, corrupt.stderr).toBe(EXIT.store);
    expect(corrupt.stderr).toContain('checksum mismatch');
    expect(new SegmentCorruptError('x').kind).toBe('fatal');

    await base.put(seg.key, bytes.body);
    plan.add(
      'get',
      /current\.json$/,
      { type: 'fail', error: new TransientStoreError('store unavailable reading current.json (SlowDown)', { throttled: true }) },
      1_000,
    );
    const throttled = await run(['inspect-segment', seg.id], store);
    expect(throttled.code, throttled.stderr).toBe(EXIT.store);
    expect(throttled.stderr).toContain('SlowDown');
  });
});
