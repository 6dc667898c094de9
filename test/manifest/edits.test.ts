/**
 * Manifest edits: each applies only when its own preconditions hold on the draft it is given,
 * leaves the draft untouched when skipped, and travels as JSON (the zod schema accepts what
 * the code builds and refuses what it should not).
 */
import { describe, expect, it } from 'vitest';
import { applyEdit, closeInputs, draftOf, manifestEdit, rawSegmentsAdded, type EditOf, type ManifestEdit } from '../../src/manifest/edits.ts';
import { emptyManifest, type ShardManifest } from '../../src/manifest/schema.ts';
import type { UsageEvent } from '../../src/model/event.ts';
import { fakeRollup, fakeSegment } from '../support/fixtures.ts';

const manifest = (over: Partial<ShardManifest> = {}): ShardManifest => ({ ...emptyManifest(0, 'c1', 1), ...over });

const rollup = fakeRollup;

const event = (over: Partial<UsageEvent>): UsageEvent =>
  ({
    event_id: 'e',
    kind: 'Usage',
    correction_ref: null,
    account_id: 'acct',
    subscription_id: null,
    product_id: 'p',
    meter_id: 'm',
    model_id: null,
    source: 's',
    unit: 'u',
    timestamp_ms: Date.UTC(2026, 0, 5),
    quantity: 5n,
    dimensions: {},
    ingested_at_ms: 1,
    ...over,
  }) as UsageEvent;

const closedJan = (): ShardManifest => manifest({ periods: [{ account_id: 'acct', month: '2026-01', state: 'closed', adjustments: [], history: [] }] });

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

/**
 * Applies and checks that a skipped edit left the draft exactly as it was — and that the edit
 * works on a copy-on-write draft of a frozen manifest (as commits apply it) with the same outcome.
 */
function apply(draft: ShardManifest, edit: ManifestEdit) {
  const before = structuredClone(draft);
  const cow = draftOf(deepFreeze(structuredClone(draft)));
  const cowResult = applyEdit(cow, structuredClone(edit));
  const result = applyEdit(draft, edit);
  expect(cowResult).toEqual(result);
  expect(JSON.parse(JSON.stringify(cow))).toEqual(JSON.parse(JSON.stringify(draft)));
  if (result.status === 'skipped') expect(draft).toEqual(before);
  // Every edit built here survives the wire: JSON and back through the schema.
  expect(manifestEdit.parse(JSON.parse(JSON.stringify(edit)))).toEqual(edit);
  return result;
}

describe('manifest edits', () => {
  it('addRawSegments: refused for a listed id or a Usage month that is not open; records adjustments in closed periods', () => {
    const d = manifest({ segments: [fakeSegment('s1')] });
    expect(apply(d, rawSegmentsAdded([fakeSegment('s1')], [], 1))).toEqual({ status: 'skipped', reason: 'already_listed' });

    const closed = closedJan();
    expect(apply(closed, rawSegmentsAdded([fakeSegment('s2')], [event({})], 1))).toEqual({ status: 'skipped', reason: 'period_closed' });
    const fenced = manifest({ periods: [{ account_id: 'acct', month: '2026-01', state: 'closing', adjustments: [], history: [] }] });
    expect(apply(fenced, rawSegmentsAdded([fakeSegment('s2')], [event({})], 1)).status).toBe('skipped');

    const correction = event({ event_id: 'fix', kind: 'Correction', quantity: -3n, correction_ref: { original_event_id: 'e', reason: 'refund' } });
    const other = event({
      event_id: 'other',
      account_id: 'acct2',
      kind: 'Retraction',
      quantity: -1n,
      correction_ref: { original_event_id: 'x', reason: 'dup' },
    });
    const res = apply(closed, rawSegmentsAdded([fakeSegment('s3')], [correction, other, event({ timestamp_ms: Date.UTC(2026, 1, 2) })], 42));
    expect(res.status).toBe('applied');
    expect(closed.segments.map((s) => s.id)).toEqual(['s3']);
    expect(closed.periods[0]!.adjustments).toEqual([
      {
        event_id: 'fix',
        kind: 'Correction',
        quantity: '-3',
        timestamp_ms: Date.UTC(2026, 0, 5),
        product_id: 'p',
        meter_id: 'm',
        model_id: null,
        unit: 'u',
        original_event_id: 'e',
        reason: 'refund',
        committed_at_ms: 42,
      },
    ]);
  });

  it('replaceSegments: inputs must be live and unrolled, its justifying segments live; records the replacement and new conflicts once', () => {
    const segs = [fakeSegment('a'), fakeSegment('b'), { ...fakeSegment('rolled'), rolled_by: 'r1' }, fakeSegment('ref')];
    const edit = (over: Partial<EditOf<'replaceSegments'>> = {}): EditOf<'replaceSegments'> => ({
      op: 'replaceSegments',
      replacement_id: 'rep1',
      at_ms: 10,
      delete_after_ms: 20,
      inputs: ['a', 'b'],
      outputs: [fakeSegment('out')],
      justified_by: ['ref'],
      conflicts: [{ event_id: 'dup', account_id: 'acct', segments: ['ref'], found_at_ms: 10 }],
      ...over,
    });
    expect(apply(manifest({ segments: segs }), edit({ inputs: ['a', 'gone'] }))).toEqual({ status: 'skipped', reason: 'inputs_changed' });
    expect(apply(manifest({ segments: segs }), edit({ inputs: ['a', 'rolled'] }))).toEqual({ status: 'skipped', reason: 'inputs_changed' });
    expect(apply(manifest({ segments: segs }), edit({ justified_by: ['vanished'] }))).toEqual({ status: 'skipped', reason: 'justification_gone' });

    const d = manifest({ segments: segs, conflicts: [{ event_id: 'dup', account_id: 'acct', segments: ['x'], found_at_ms: 1 }] });
    expect(apply(d, edit()).status).toBe('applied');
    expect(d.segments.map((s) => s.id)).toEqual(['rolled', 'ref', 'out']);
    expect(d.replacements).toEqual([
      {
        id: 'rep1',
        kind: 'raw',
        inputs: [
          { id: 'a', key: fakeSegment('a').key, hashes_key: fakeSegment('a').hashes_key },
          { id: 'b', key: fakeSegment('b').key, hashes_key: fakeSegment('b').hashes_key },
        ],
        outputs: ['out'],
        committed_at_ms: 10,
        delete_after_ms: 20,
      },
    ]);
    expect(d.conflicts).toHaveLength(1); // already known by event id
    expect(d.watermarks.last_compaction_ms).toBe(10);
  });

  it('addRollup marks its inputs rolled in the same edit, and only if none is rolled or gone', () => {
    const d = manifest({ segments: [fakeSegment('a'), fakeSegment('b')] });
    expect(apply(d, { op: 'addRollup', rollup: rollup('r1', ['a', 'missing']), at_ms: 5 })).toEqual({ status: 'skipped', reason: 'inputs_changed' });
    expect(apply(d, { op: 'addRollup', rollup: rollup('r1', ['a', 'b']), at_ms: 5 }).status).toBe('applied');
    expect(d.segments.map((s) => s.rolled_by)).toEqual(['r1', 'r1']);
    expect(apply(d, { op: 'addRollup', rollup: rollup('r2', ['a']), at_ms: 6 })).toEqual({ status: 'skipped', reason: 'inputs_changed' });
    expect(d.rollups.map((r) => r.id)).toEqual(['r1']);
  });

  it('mergeRollups repoints rolled_by and records the replacement; dropRollups unmarks exactly what it drops', () => {
    const d = manifest({
      segments: [
        { ...fakeSegment('a'), rolled_by: 'r1' },
        { ...fakeSegment('b'), rolled_by: 'r2' },
        { ...fakeSegment('c'), rolled_by: 'r3' },
      ],
      rollups: [rollup('r1', ['a'], 0), rollup('r2', ['b'], 3_600_000), rollup('r3', ['c'], 10 * 3_600_000)],
    });
    const merge: EditOf<'mergeRollups'> = {
      op: 'mergeRollups',
      replacement_id: 'm',
      at_ms: 1,
      delete_after_ms: 2,
      inputs: ['r1', 'r2'],
      output: rollup('rm', ['a', 'b']),
    };
    expect(apply(d, { ...merge, inputs: ['r1', 'nope'] })).toEqual({ status: 'skipped', reason: 'inputs_changed' });
    expect(apply(d, merge).status).toBe('applied');
    expect(d.segments.map((s) => s.rolled_by)).toEqual(['rm', 'rm', 'r3']);
    expect(d.rollups.map((r) => r.id)).toEqual(['r3', 'rm']);

    const drop = (from: number, to: number): EditOf<'dropRollups'> => ({ op: 'dropRollups', replacement_id: 'd', at_ms: 3, delete_after_ms: 4, from, to });
    expect(apply(d, drop(20 * 3_600_000, 30 * 3_600_000))).toEqual({ status: 'skipped', reason: 'nothing_to_drop' });
    expect(apply(d, drop(10 * 3_600_000, 11 * 3_600_000))).toEqual({
      status: 'applied',
      value: { dropped: ['r3'], unmarked_segments: 1, unmarked_rows: 1, cleared_sparse: 0 },
    });
    expect(d.segments.map((s) => s.rolled_by)).toEqual(['rm', 'rm', undefined]);
  });

  it('expireReplacements forgets only records past their grace', () => {
    const rec = (id: string, deleteAfter: number) => ({ id, kind: 'raw' as const, inputs: [], outputs: [], committed_at_ms: 0, delete_after_ms: deleteAfter });
    const d = manifest({ replacements: [rec('old', 5), rec('young', 50)] });
    expect(apply(d, { op: 'expireReplacements', now_ms: 1 })).toEqual({ status: 'skipped', reason: 'nothing_expired' });
    expect(apply(d, { op: 'expireReplacements', now_ms: 10 })).toEqual({ status: 'applied', value: 1 });
    expect(d.replacements.map((r) => r.id)).toEqual(['young']);
  });

  it('periods: fence, close from the inputs it was computed on, close twice, reopen', () => {
    const who = { at_ms: 7, reason: 'invoice', actor: 'ops' };
    const jan = (id: string, over: Partial<ReturnType<typeof fakeSegment>> = {}) => ({
      ...fakeSegment(id),
      min_ts: Date.UTC(2026, 0, 3),
      max_ts: Date.UTC(2026, 0, 4),
      min_account: 'acct',
      max_account: 'acct',
      buckets: [2],
      ...over,
    });
    // Its inputs: segments that may hold rows of acct in January in bucket 2; not the others.
    const d = manifest({
      generation: 5,
      segments: [
        jan('in'),
        jan('feb', { min_ts: Date.UTC(2026, 1, 1), max_ts: Date.UTC(2026, 1, 2) }),
        jan('other-bucket', { buckets: [3] }),
        jan('other-accounts', { min_account: 'b', max_account: 'c' }),
      ],
    });
    expect(closeInputs(d.segments, 'acct', 2, Date.UTC(2026, 0, 1), Date.UTC(2026, 1, 1))).toEqual(['in']);
    const close: EditOf<'closePeriod'> = {
      op: 'closePeriod',
      account_id: 'acct',
      month: '2026-01',
      bucket: 2,
      inputs: [],
      based_on_generation: 4,
      frozen_key: 'f',
      quantity: '12',
      event_count: 3,
      ...who,
    };
    expect(apply(d, close)).toEqual({ status: 'skipped', reason: 'stale' });
    expect(apply(d, { ...close, inputs: ['in', 'feb'] })).toEqual({ status: 'skipped', reason: 'stale' });
    expect(apply(d, { op: 'reopenPeriod', account_id: 'acct', month: '2026-01', ...who })).toEqual({ status: 'skipped', reason: 'not_closed' });
    expect(apply(d, { op: 'fencePeriod', account_id: 'acct', month: '2026-01', ...who }).status).toBe('applied');
    expect(d.periods[0]!.state).toBe('closing');
    expect(apply(d, { op: 'fencePeriod', account_id: 'acct', month: '2026-01', ...who })).toEqual({ status: 'skipped', reason: 'not_open' });
    expect(apply(d, { ...close, inputs: ['in'] }).status).toBe('applied');
    expect(d.periods[0]).toMatchObject({ state: 'closed', generation: 4, snapshot_key: 'f', frozen_quantity: '12', frozen_event_count: 3 });
    expect(d.periods[0]!.history.map((h) => h.action)).toEqual(['fence', 'close']);
    expect(apply(d, { ...close, inputs: ['in'] })).toEqual({ status: 'skipped', reason: 'already_closed' });
    expect(apply(d, { op: 'reopenPeriod', account_id: 'acct', month: '2026-01', ...who }).status).toBe('applied');
    expect(d.periods[0]).toEqual({ account_id: 'acct', month: '2026-01', state: 'open', adjustments: [], history: expect.any(Array) });
  });

  it('the wire schema refuses an unknown edit and a malformed one', () => {
    expect(manifestEdit.safeParse({ op: 'dropTable' }).success).toBe(false);
    expect(manifestEdit.safeParse({ op: 'closePeriod', account_id: 'a', month: '2026-13x' }).success).toBe(false);
    expect(manifestEdit.safeParse({ op: 'addRawSegments', segments: [], usage_months: [], adjustments: [], at_ms: 1 }).success).toBe(false);
  });
});
