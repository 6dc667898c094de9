/**
 * zod schemas of the HTTP request and response bodies that no other module defines: the OpenAPI
 * document (`openapi.ts`) turns them into JSON Schema. They describe what the routes in
 * `routes/*.ts` and `app.ts` send and accept; the usage event itself is `usageEventInput` in
 * `src/model/event-schema.ts`, and period audit entries reuse the manifest's schemas.
 * `test/api/openapi.test.ts` checks real answers of the app against these shapes.
 */
import { z } from 'zod';
import { decimalString, pendingAdjustment, periodTransition } from '../manifest/schema.ts';
import { usageBatchInput, usageEventInput } from '../model/event-schema.ts';
import { PUBLIC_ERROR_CODES } from './errors.ts';
import { ACCOUNT_ID } from './params.ts';

const count = z.number().int().nonnegative();
const isoTimestamp = z.string().describe('RFC 3339 timestamp in UTC, e.g. 2026-01-01T00:00:00.000Z.');
const quantity = decimalString.describe('Signed 128-bit integer as a decimal string (never rounded).');
const sourceName = z.enum(['auto', 'raw', 'rollup']).describe('Data source the answer was read from: raw segments, rollups, or auto (the engine picks).');

// ---------------------------------------------------------------------------------------------
// Errors

/** Every error answer: `{error: {code, message, details?}}` (see `src/api/errors.ts`). */
export const errorBody = z
  .object({
    error: z.object({
      code: z
        .enum(PUBLIC_ERROR_CODES)
        .describe(
          'Stable machine-readable code, one of a closed set (the README error table says what to do for each): 4xx for the caller to fix; ' +
            '503 with Retry-After to retry (manifest_contention, store_unavailable, commit_outcome_unknown: retry the same request, it is idempotent); ' +
            '500 for a server fault an operator must fix (manifest_corrupt, segment_corrupt, unsupported_format, store_unsafe, store_refused, internal).',
        ),
      message: z
        .string()
        .describe(
          'Human-readable; for a 4xx it starts with the name of the offending field or parameter when there is one; for a 5xx it is generic (the details are in the server log under X-Request-Id).',
        ),
      details: z
        .record(z.string(), z.unknown())
        .optional()
        .describe('Machine-readable extras, e.g. `{"field": "from"}` or `{"field": "body", "limit": 8388608}`.'),
    }),
  })
  .describe('The error body of every non-2xx answer.');

// ---------------------------------------------------------------------------------------------
// System

export const healthResponse = z
  .object({
    status: z.enum(['ok', 'degraded']),
    store: z.object({
      kind: z.string().describe('Object store kind: s3, fs, memory or r2 (the Workers R2 binding).'),
      ok: z.boolean().describe('db.json was read within the health timeout.'),
      latency_ms: z.number().nonnegative(),
      problem: z.string().optional().describe('Why the store check failed.'),
    }),
    writable: z.boolean().describe('The startup probe found the store honours conditional writes.'),
    write_problems: z.array(z.string()).optional().describe('Why writes are refused (only when writable is false).'),
    database: z.object({ db_id: z.string(), shards: z.number().int().positive(), buckets: z.number().int().positive() }),
  })
  .describe('Liveness and store reachability. 200 with status ok, 503 with status degraded.');

// ---------------------------------------------------------------------------------------------
// Ingest

/** The batch request with its events typed (invalid events are still rejected one by one). */
export const usageBatchRequest = usageBatchInput
  .extend({
    events: z
      .array(usageEventInput)
      .describe(
        'Usage events (at most 10,000 per batch by default; the whole body at most 8 MiB). An invalid event does not fail the request: it is counted in `rejected` and listed in `errors` (an unknown event field too).',
      ),
  })
  .strict()
  .describe('POST /v1/usage/batch body; a top-level field other than events is a 400.');

export const ingestResult = z
  .object({
    accepted: count.describe('New events, durably committed.'),
    duplicates: count.describe('Events already ingested with the same payload (ignored).'),
    conflicts: count.describe('Events whose event_id was ingested with a different payload (refused).'),
    rejected: count.describe('Invalid events, and Usage events in a closed period.'),
    errors: z
      .array(
        z.object({
          index: count.describe('Position of the event in the request `events` array.'),
          event_id: z.string().nullable(),
          reason: z.string().describe('`<field>: <problem>`, `conflict: ...` or `period_closed: ...`.'),
        }),
      )
      .describe('One entry per rejected or conflicting event, in request order.'),
  })
  .describe('Outcome of a batch: every event is counted exactly once.');

// ---------------------------------------------------------------------------------------------
// Queries

export const resultLine = z
  .object({
    quantity: quantity.optional().describe('SUM(quantity) of the line (when the sum metric is asked for).'),
    count: count.optional().describe('COUNT(*) of the line (when the count metric is asked for).'),
    unit: z.string().optional().describe('The unit of the line, when all its events share one and unit is not a group key.'),
  })
  .catchall(z.string().nullable())
  .describe(
    'One result line: one property per group key (column name, hour/day/month as an ISO timestamp of the bucket start, or dim:<key>), whose value is the group value or null, plus the metrics.',
  );

export const auditRow = z
  .object({
    event_id: z.string(),
    kind: z.enum(['Usage', 'Correction', 'Retraction']),
    correction_ref: z.object({ original_event_id: z.string(), reason: z.string() }).nullable(),
    account_id: z.string(),
    subscription_id: z.string().nullable(),
    product_id: z.string(),
    meter_id: z.string(),
    model_id: z.string().nullable(),
    source: z.string(),
    unit: z.string(),
    timestamp_ms: z.number().int(),
    quantity,
    dimensions: z.record(z.string(), z.string()),
    ingested_at_ms: z.number().int().describe('Server clock when the event was accepted.'),
    segment_id: z.string().describe('The raw segment holding the event.'),
  })
  .describe('One stored event, as the audit trail shows it.');

export const usageResponse = z
  .object({
    account_id: z.string(),
    from: isoTimestamp,
    to: isoTimestamp,
    source: sourceName,
    generation: z.number().int().nonnegative().describe("Manifest generation of the account's shard the answer was computed from."),
    lines: z.array(resultLine),
    quarantined_events: count.describe(
      'Events of the range held out of the totals: later copies of conflicting events, quarantined until an admin resolves them (GET /v1/admin/conflicts).',
    ),
  })
  .describe("An account's usage over [from, to), grouped.");

export const eventsPage = z
  .object({
    account_id: z.string(),
    from: isoTimestamp,
    to: isoTimestamp,
    generation: z.number().int().nonnegative(),
    events: z.array(auditRow).describe('In (timestamp_ms, event_id) order.'),
    next_cursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page.'),
  })
  .describe("One page of an account's raw events.");

export const explanation = z
  .object({
    account_id: z.string(),
    from: isoTimestamp,
    to: isoTimestamp,
    generation: z.number().int().nonnegative(),
    lines: z.array(resultLine).describe('Usage events by invoice line (product_id, meter_id, model_id, source, unit).'),
    corrections: z.array(auditRow).describe('Corrections and retractions, listed apart from the lines.'),
    corrections_quantity: quantity,
    segments: z
      .array(
        z.object({
          id: z.string(),
          kind: z.literal('raw'),
          rows: count,
          quantity,
          min_ts: z.number().int(),
          max_ts: z.number().int(),
          rolled_by: z.string().nullable().describe('The rollup that aggregates this segment, if any.'),
          rollup_sparse: z
            .boolean()
            .describe(
              'The rollup job processed this segment and wrote no rollup for it (its rows barely aggregate by hour): every source, source=rollup included, reads it as raw.',
            ),
        }),
      )
      .describe('Raw segments that contributed rows, with what they contributed.'),
    rollups: z
      .array(
        z.object({
          id: z.string(),
          inputs: z.array(z.string()).describe('The raw segments the rollup aggregates.'),
          min_hour: isoTimestamp,
          max_hour: isoTimestamp,
          quantity_sum: quantity,
          event_count: count,
        }),
      )
      .describe('Rollups covering the range, with their provenance.'),
  })
  .describe('Invoice-line breakdown with provenance.');

export const verification = z
  .object({
    account_id: z.string(),
    from: isoTimestamp,
    to: isoTimestamp,
    generation: z.number().int().nonnegative(),
    raw_total: quantity.describe('SUM(quantity) from a scan of raw segments only.'),
    raw_count: count,
    rollup_total: quantity.describe('SUM(quantity) as source=auto answers it (rollups + raw not rolled up).'),
    rollup_count: count,
    drift: quantity.describe('rollup_total - raw_total; anything but 0 is a bug.'),
    matches: z.boolean().describe('Totals and counts agree.'),
    rolled_segments: count,
    unrolled_segments: count,
    rollups: count,
    period_sealed: z.boolean().describe('A closed (or closing) billing period overlaps the range.'),
  })
  .describe('An account range recomputed from raw segments and from rollups; they must agree.');

/**
 * POST /v1/query/json body. Mirrors the parser in `routes/query.ts` (which keeps its own copy);
 * the route checks the values further (timestamps, group keys, filters, metrics) with 400s.
 */
export const jsonQueryRequest = z
  .strictObject({
    source: z.enum(['auto', 'raw', 'rollup']).optional().describe('Defaults to auto.'),
    account_id: z.string().regex(ACCOUNT_ID).optional().describe('One account (reads one shard); omitted: every account.'),
    from: z.string().describe('Start (inclusive), RFC 3339 or YYYY-MM-DD.'),
    to: z.string().describe('End (exclusive), RFC 3339 or YYYY-MM-DD; at most 400 days after from.'),
    group_by: z
      .union([z.string(), z.array(z.string())])
      .optional()
      .describe(
        'Up to 8 keys (a list or a comma-separated string): a column (account_id, subscription_id, product_id, meter_id, model_id, source, unit, kind), hour, day, month, or dim:<key>.',
      ),
    filters: z
      .record(z.string(), z.union([z.string(), z.array(z.string())]))
      .optional()
      .describe('Column name or dim:<key> → one value or a list of up to 1000 values (equality / IN).'),
    metrics: z.array(z.string()).optional().describe('sum (or sum(quantity)) and/or count (or count(*)); defaults to both.'),
    order_by: z
      .array(
        z.union([
          z.string().describe('"<key> [asc|desc]"'),
          z.strictObject({ key: z.string().optional(), metric: z.string().optional(), direction: z.enum(['asc', 'desc']).optional() }),
        ]),
      )
      .optional()
      .describe('Metrics (sum, count) or group keys of this query.'),
    limit: z.number().int().positive().optional().describe('At most this many lines.'),
  })
  .describe('A structured aggregate query. Unknown fields are refused (400 naming them).');

export const sqlQueryRequest = z
  .strictObject({
    sql: z
      .string()
      .max(10_000)
      .describe(
        "One SELECT over usage_events: SUM(quantity) and/or COUNT(*), group columns; WHERE with AND of `col = 'v'`, `col IN (...)` and a required timestamp_ms range (ms since the epoch); GROUP BY, ORDER BY, LIMIT.",
      ),
  })
  .describe('POST /v1/query/sql body (or send the SQL itself as text/plain or application/sql). Unknown fields are refused.');

export const queryAnswer = z
  .object({
    account_id: z.string().optional().describe('Present when the query was for one account.'),
    from: isoTimestamp,
    to: isoTimestamp,
    source: sourceName,
    generations: z.record(z.string(), z.number().int().nonnegative()).describe('Shard number → manifest generation each answer part was computed from.'),
    lines: z.array(resultLine),
  })
  .describe('Answer of a JSON or SQL query.');

// ---------------------------------------------------------------------------------------------
// Billing periods

export const periodActionRequest = z
  .strictObject({
    reason: z.string().max(1024).nullable().optional().describe('Kept in the period history.'),
    force: z
      .boolean()
      .optional()
      .describe('Close a period that has not ended yet (its Usage events are refused from then on); needs a reason. Ignored by reopen.'),
  })
  .describe('Optional body of close and reopen; an empty body is fine; unknown fields are refused.');

const historyEntry = periodTransition.extend({ at: isoTimestamp }).describe('One close, fence or reopen.');

const openPeriodView = z.object({
  account_id: z.string(),
  period: z.string().describe('YYYY-MM (a UTC calendar month).'),
  state: z.enum(['open', 'closing']).describe('closing: a close is in progress; Usage events for the period are already refused.'),
  live: z.object({ quantity, event_count: count }).describe('Current totals over the month.'),
  net_total: quantity,
  history: z.array(historyEntry),
});

const closedPeriodView = z.object({
  account_id: z.string(),
  period: z.string().describe('YYYY-MM (a UTC calendar month).'),
  state: z.literal('closed'),
  closed_at: isoTimestamp,
  generation: z.number().int().nonnegative().describe('Manifest generation the frozen snapshot was computed from.'),
  source_segments: z.array(z.string()),
  frozen: z.object({ quantity, event_count: count, lines: z.array(resultLine) }).describe('Totals and invoice lines frozen by the close.'),
  pending_adjustments: z.array(pendingAdjustment).describe('Corrections and retractions accepted after the close.'),
  adjustments_quantity: quantity,
  net_total: quantity.describe('frozen.quantity + adjustments_quantity.'),
  history: z.array(historyEntry),
});

export const periodView = z.union([openPeriodView, closedPeriodView]).describe('A billing period: live totals while open, frozen ones once closed.');

export const periodCloseResponse = z
  .union([
    openPeriodView.extend({ already_closed: z.boolean() }),
    closedPeriodView.extend({ already_closed: z.boolean().describe('The period was closed before this call (nothing changed).') }),
  ])
  .describe('The period after the close.');

export const periodReopenResponse = z
  .union([
    openPeriodView.extend({ reopened: z.boolean(), message: z.string().optional() }),
    closedPeriodView.extend({ reopened: z.boolean(), message: z.string().optional() }),
  ])
  .describe('The period after the reopen; reopened is false (with a message) when it was not closed.');

export const periodList = z
  .object({
    account_id: z.string(),
    periods: z.array(
      z.object({
        period: z.string(),
        state: z.enum(['open', 'closing', 'closed']),
        closed_at: isoTimestamp.optional(),
        frozen_quantity: quantity.optional(),
        adjustments_quantity: quantity.optional(),
        net_total: quantity.optional(),
        transitions: count.describe('Number of close/fence/reopen entries in the history.'),
      }),
    ),
  })
  .describe('Periods of the account that have been closed at least once, oldest first.');

// ---------------------------------------------------------------------------------------------
// Admin

export const jobReport = z
  .object({
    job: z.enum(['rollup', 'compact', 'gc']),
    shards: count.describe('Shards the job ran over.'),
    failed: count.describe('Shards whose run failed (their result has an error).'),
    results: z
      .array(
        z
          .object({
            shard: count.optional(),
            committed: z.boolean().optional().describe('The run committed a manifest change.'),
            reason: z.string().optional().describe('Why nothing was done.'),
            error: z.string().optional().describe('Why this shard failed (the other shards still ran).'),
          })
          .catchall(z.unknown())
          .describe(
            'The report of one shard; its fields depend on the job — compact: inputs, outputs, rows_in, rows_out, duplicates_removed, conflicts_found; rollup: rollup_id, inputs, rows_in, rows_out, sparse_inputs (inputs marked sparse instead of rolled: the rollup would not have aggregated them), merge; gc: dry_run, expired_replacements, scanned, referenced, deleted, keys. gc ends the list with {scratch_deleted}.',
          ),
      )
      .describe('One entry per shard, in shard order.'),
  })
  .describe('What a background job run did.');

const conflictCopy = z
  .object({
    segment: z.string().describe('Where the copy was when found (empty for a copy compaction was rewriting then).'),
    payload: z
      .string()
      .describe('32 bits of its payload hash, 8 hex digits (16 digits, 64 bits, in records found before hashes block version 3: compare the first 8).'),
    quantity: quantity.optional(),
    ingested_at_ms: z.number().int(),
  })
  .describe('One stored copy of the event.');

export const conflict = z
  .object({
    id: z.string().optional().describe('Stable id (what resolve takes); absent on records written before quarantine existed.'),
    kind: z
      .enum(['payload', 'id_reuse'])
      .optional()
      .describe('payload: same (account_id, event_id), another payload; id_reuse: one event_id under two accounts (two events).'),
    status: z
      .enum(['reported', 'quarantined', 'resolved'])
      .optional()
      .describe('quarantined: the later copy is out of every total until resolved; reported: both copies counted; resolved: an admin decided.'),
    event_id: z.string(),
    account_id: z.string(),
    other_account_id: z.string().optional().describe('id_reuse: the other account with the same event_id.'),
    segments: z.array(z.string()).describe('Segments holding the copies.'),
    found_at_ms: z.number().int(),
    found_at: isoTimestamp,
    timestamp_ms: z.number().int().optional(),
    kept: conflictCopy.optional().describe('The first-ingested copy, in the totals.'),
    quarantined: conflictCopy.optional().describe('The later copy, out of the totals while quarantined.'),
    resolution: z
      .object({ keep: z.enum(['first', 'second', 'both']), at_ms: z.number().int(), actor: z.string(), reason: z.string(), segment: z.string().optional() })
      .optional()
      .describe('Who decided what, when and why; `segment` holds what came back into the totals.'),
    shard: count,
  })
  .describe('A conflict found in storage.');

export const conflictList = z
  .object({ conflicts: z.array(conflict) })
  .describe('Conflicts found in storage by compaction (and ids reused across accounts), over every shard.');

export const conflictResolveRequest = z
  .object({
    keep: z
      .enum(['first', 'second', 'both'])
      .describe(
        'first: the quarantined copy stays out; both: it comes back as a distinct event; second: it comes back and a Retraction cancels the first copy.',
      ),
    reason: z.string().min(1).max(1024).describe('Kept in the audit record.'),
  })
  .strict()
  .describe('An admin decision on a quarantined conflict.');

export const conflictResolution = z
  .object({ conflict, already_resolved: z.boolean().describe('It was resolved before; nothing changed now.') })
  .describe('The conflict after the decision.');
