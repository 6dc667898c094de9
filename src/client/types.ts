/**
 * The wire types of the HTTP API, written by hand to mirror the server's zod schemas: one type per
 * OpenAPI component (same name), plus the query parameters of each route. No imports, no runtime:
 * `test/client/openapi-types.test.ts` compares every type here with the served /openapi.json.
 */

/** A signed 128-bit integer as a decimal string, e.g. "-250" (never a float). */
export type DecimalString = string;
/** An RFC 3339 timestamp in UTC as the server answers it, e.g. "2026-01-01T00:00:00.000Z". */
export type IsoTimestamp = string;
export type Source = 'auto' | 'raw' | 'rollup';
export type EventKind = 'Usage' | 'Correction' | 'Retraction';
export type JobName = 'rollup' | 'compact' | 'gc';

// ---------------------------------------------------------------------------------------------
// Errors and system

/** Every non-2xx answer (except /health's 503, which is a `Health`). */
/** Every code the server answers with (its README error table lists them). */
export type ErrorCode =
  | 'invalid_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'payload_too_large'
  | 'client_closed_request'
  | 'manifest_contention'
  | 'period_closing'
  | 'store_unavailable'
  | 'commit_outcome_unknown'
  | 'manifest_corrupt'
  | 'segment_corrupt'
  | 'unsupported_format'
  | 'store_unsafe'
  | 'store_refused'
  | 'internal'
  | 'misconfigured';

export interface ErrorBody {
  readonly error: {
    readonly code: ErrorCode;
    readonly message: string;
    readonly details?: { readonly [key: string]: unknown };
  };
}

export interface Health {
  readonly status: 'ok' | 'degraded';
  readonly store: { readonly kind: string; readonly ok: boolean; readonly latency_ms: number; readonly problem?: string };
  readonly writable: boolean;
  readonly write_problems?: readonly string[];
  readonly database: { readonly db_id: string; readonly shards: number; readonly buckets: number };
}

// ---------------------------------------------------------------------------------------------
// Ingest

export type Dimensions = { readonly [key: string]: string };

/** One usage event exactly as POST /v1/usage/batch takes it. */
export interface UsageEvent {
  readonly event_id: string;
  readonly kind?: EventKind | null;
  readonly correction_ref?: { readonly original_event_id: string; readonly reason?: string | null } | null;
  readonly account_id: string;
  readonly subscription_id?: string | null;
  readonly product_id: string;
  readonly meter_id: string;
  readonly model_id?: string | null;
  readonly source: string;
  readonly unit: string;
  readonly timestamp_ms: number;
  /** A JSON integer within ±(2^53-1) or a decimal string anywhere in the signed 128-bit range. */
  readonly quantity: number | string;
  readonly dimensions?: Dimensions | { readonly inner: Dimensions } | null;
  /** Ignored by the server (it stamps its own clock). */
  readonly ingested_at_ms?: number;
}

export interface UsageBatch {
  readonly events: readonly UsageEvent[];
}

export interface IngestResult {
  readonly accepted: number;
  readonly duplicates: number;
  readonly conflicts: number;
  readonly rejected: number;
  /** Rejected and conflicting events only (duplicates are counted, not listed). */
  readonly errors: readonly { readonly index: number; readonly event_id: string | null; readonly reason: string }[];
}

// ---------------------------------------------------------------------------------------------
// Queries

/** One result line: group keys (string or null) plus the metrics. */
export interface ResultLine {
  readonly quantity?: DecimalString;
  readonly count?: number;
  readonly unit?: string;
  readonly [groupKey: string]: string | number | null | undefined;
}

export interface AuditRow {
  readonly event_id: string;
  readonly kind: EventKind;
  readonly correction_ref: { readonly original_event_id: string; readonly reason: string } | null;
  readonly account_id: string;
  readonly subscription_id: string | null;
  readonly product_id: string;
  readonly meter_id: string;
  readonly model_id: string | null;
  readonly source: string;
  readonly unit: string;
  readonly timestamp_ms: number;
  readonly quantity: DecimalString;
  readonly dimensions: Dimensions;
  readonly ingested_at_ms: number;
  readonly segment_id: string;
}

export interface AccountUsage {
  readonly account_id: string;
  readonly from: IsoTimestamp;
  readonly to: IsoTimestamp;
  readonly source: Source;
  readonly generation: number;
  readonly lines: readonly ResultLine[];
  /** Events of the range held out of the totals until a conflict is resolved. */
  readonly quarantined_events: number;
}

export interface EventsPage {
  readonly account_id: string;
  readonly from: IsoTimestamp;
  readonly to: IsoTimestamp;
  readonly generation: number;
  readonly events: readonly AuditRow[];
  readonly next_cursor: string | null;
}

export interface Explanation {
  readonly account_id: string;
  readonly from: IsoTimestamp;
  readonly to: IsoTimestamp;
  readonly generation: number;
  readonly lines: readonly ResultLine[];
  readonly corrections: readonly AuditRow[];
  readonly corrections_quantity: DecimalString;
  readonly segments: readonly {
    readonly id: string;
    readonly kind: 'raw';
    readonly rows: number;
    readonly quantity: DecimalString;
    readonly min_ts: number;
    readonly max_ts: number;
    readonly rolled_by: string | null;
    readonly rollup_sparse: boolean;
  }[];
  readonly rollups: readonly {
    readonly id: string;
    readonly inputs: readonly string[];
    readonly min_hour: IsoTimestamp;
    readonly max_hour: IsoTimestamp;
    readonly quantity_sum: DecimalString;
    readonly event_count: number;
  }[];
}

export interface Verification {
  readonly account_id: string;
  readonly from: IsoTimestamp;
  readonly to: IsoTimestamp;
  readonly generation: number;
  readonly raw_total: DecimalString;
  readonly raw_count: number;
  readonly rollup_total: DecimalString;
  readonly rollup_count: number;
  readonly drift: DecimalString;
  readonly matches: boolean;
  readonly rolled_segments: number;
  readonly unrolled_segments: number;
  readonly rollups: number;
  readonly period_sealed: boolean;
}

export interface JsonQuery {
  readonly source?: Source;
  readonly account_id?: string;
  /** RFC 3339 or YYYY-MM-DD (inclusive). */
  readonly from: string;
  /** RFC 3339 or YYYY-MM-DD (exclusive). */
  readonly to: string;
  readonly group_by?: string | readonly string[];
  /** Column name or `dim:<key>` → one value or a list (IN). */
  readonly filters?: { readonly [key: string]: string | readonly string[] };
  /** `sum` and/or `count` (default both). */
  readonly metrics?: readonly string[];
  readonly order_by?: readonly (string | { readonly key?: string; readonly metric?: string; readonly direction?: 'asc' | 'desc' })[];
  readonly limit?: number;
}

export interface SqlQuery {
  readonly sql: string;
}

export interface QueryAnswer {
  readonly account_id?: string;
  readonly from: IsoTimestamp;
  readonly to: IsoTimestamp;
  readonly source: Source;
  /** Shard number → manifest generation. */
  readonly generations: { readonly [shard: string]: number };
  readonly lines: readonly ResultLine[];
}

// ---------------------------------------------------------------------------------------------
// Billing periods

export interface PeriodAction {
  readonly reason?: string | null;
  /** Close a period that has not ended yet (needs a reason). */
  readonly force?: boolean;
}

export interface PeriodTransition {
  readonly action: 'close' | 'fence' | 'reopen';
  readonly at_ms: number;
  readonly reason: string;
  readonly actor: string;
  readonly at: IsoTimestamp;
}

export interface PendingAdjustment {
  readonly event_id: string;
  readonly kind: 'Correction' | 'Retraction';
  readonly quantity: DecimalString;
  readonly timestamp_ms: number;
  readonly product_id: string;
  readonly meter_id: string;
  readonly model_id: string | null;
  readonly unit: string;
  readonly original_event_id: string;
  readonly reason: string;
  readonly committed_at_ms: number;
}

export interface OpenPeriodView {
  readonly account_id: string;
  readonly period: string;
  readonly state: 'open' | 'closing';
  readonly live: { readonly quantity: DecimalString; readonly event_count: number };
  readonly net_total: DecimalString;
  readonly history: readonly PeriodTransition[];
}

export interface ClosedPeriodView {
  readonly account_id: string;
  readonly period: string;
  readonly state: 'closed';
  readonly closed_at: IsoTimestamp;
  readonly generation: number;
  readonly source_segments: readonly string[];
  readonly frozen: { readonly quantity: DecimalString; readonly event_count: number; readonly lines: readonly ResultLine[] };
  readonly pending_adjustments: readonly PendingAdjustment[];
  readonly adjustments_quantity: DecimalString;
  readonly net_total: DecimalString;
  readonly history: readonly PeriodTransition[];
}

export type PeriodView = OpenPeriodView | ClosedPeriodView;

export type PeriodCloseResult = (OpenPeriodView & { readonly already_closed: boolean }) | (ClosedPeriodView & { readonly already_closed: boolean });

export type PeriodReopenResult =
  | (OpenPeriodView & { readonly reopened: boolean; readonly message?: string })
  | (ClosedPeriodView & { readonly reopened: boolean; readonly message?: string });

export interface PeriodList {
  readonly account_id: string;
  readonly periods: readonly {
    readonly period: string;
    readonly state: 'open' | 'closing' | 'closed';
    readonly closed_at?: IsoTimestamp;
    readonly frozen_quantity?: DecimalString;
    readonly adjustments_quantity?: DecimalString;
    readonly net_total?: DecimalString;
    readonly transitions: number;
  }[];
}

// ---------------------------------------------------------------------------------------------
// Admin

export interface JobReport {
  readonly job: JobName;
  readonly shards: number;
  readonly failed: number;
  /** One entry per shard; the other fields depend on the job (gc ends with `{scratch_deleted}`). */
  readonly results: readonly {
    readonly shard?: number;
    readonly committed?: boolean;
    readonly reason?: string;
    readonly error?: string;
    readonly [field: string]: unknown;
  }[];
}

interface ConflictCopy {
  readonly segment: string;
  readonly payload: string;
  readonly quantity?: string;
  readonly ingested_at_ms: number;
}

export interface Conflict {
  readonly id?: string;
  readonly kind?: 'payload' | 'id_reuse';
  readonly status?: 'reported' | 'quarantined' | 'resolved';
  readonly event_id: string;
  readonly account_id: string;
  readonly other_account_id?: string;
  readonly segments: readonly string[];
  readonly found_at_ms: number;
  readonly found_at: IsoTimestamp;
  readonly timestamp_ms?: number;
  readonly kept?: ConflictCopy;
  readonly quarantined?: ConflictCopy;
  readonly resolution?: {
    readonly keep: 'first' | 'second' | 'both';
    readonly at_ms: number;
    readonly actor: string;
    readonly reason: string;
    readonly segment?: string;
  };
  readonly shard: number;
}

export interface ConflictList {
  readonly conflicts: readonly Conflict[];
}

export interface ConflictResolve {
  readonly keep: 'first' | 'second' | 'both';
  readonly reason: string;
}

export interface ConflictResolution {
  readonly conflict: Conflict;
  readonly already_resolved: boolean;
}

export interface Whoami {
  readonly name: string;
  readonly scopes: readonly ('ingest' | 'read' | 'admin')[];
  readonly open: boolean;
}

interface ShardStatus {
  readonly shard: number;
  readonly generation: number;
  readonly updated_at: string;
  readonly raw_segments: number;
  readonly uncompacted_segments: number;
  readonly unrolled_segments: number;
  readonly raw_rows: number;
  readonly rollup_segments: number;
  readonly replacements: number;
  readonly periods_closed: number;
  readonly conflicts: number;
  readonly manifest_bytes: number;
  readonly last_compaction_at: string | null;
  readonly last_rollup_at: string | null;
  readonly commits: number;
  readonly commit_retries: number;
  readonly contention_errors: number;
  readonly ambiguous_writes: number;
}

export interface AdminStatus {
  readonly now: string;
  readonly now_ms: number;
  readonly database: { readonly db_id: string; readonly shards: number; readonly buckets: number; readonly store: string };
  readonly totals: {
    readonly generation: number;
    readonly raw_segments: number;
    readonly uncompacted_segments: number;
    readonly unrolled_segments: number;
    readonly raw_rows: number;
    readonly rollup_segments: number;
    readonly replacements: number;
    readonly periods_closed: number;
    readonly conflicts: number;
    readonly manifest_bytes: number;
    readonly commits: number;
    readonly commit_retries: number;
    readonly contention_errors: number;
    readonly ambiguous_writes: number;
    readonly last_compaction_at: string | null;
    readonly last_rollup_at: string | null;
  };
  /** A shard whose manifest could not be read carries only its number and the error. */
  readonly shards: readonly (ShardStatus | { readonly shard: number; readonly error: string })[];
  readonly requests: readonly { readonly method: string; readonly route: string; readonly status: number; readonly count: number }[];
  readonly cache: { readonly hits: number; readonly misses: number; readonly bytes: number; readonly entries: number; readonly hit_rate: number | null };
  readonly jobs: readonly { readonly job: string; readonly outcome: string; readonly runs: number; readonly last_run_at: string | null }[];
}

export interface EventRows {
  readonly account_id: string;
  readonly event_id: string;
  readonly generation: number;
  readonly rows: readonly (AuditRow & { readonly quarantined: boolean })[];
}

/** Every OpenAPI component schema by its name in `#/components/schemas`. */
export interface Schemas {
  ErrorBody: ErrorBody;
  Health: Health;
  UsageEvent: UsageEvent;
  UsageBatch: UsageBatch;
  IngestResult: IngestResult;
  ResultLine: ResultLine;
  AuditRow: AuditRow;
  AccountUsage: AccountUsage;
  EventsPage: EventsPage;
  Explanation: Explanation;
  JsonQuery: JsonQuery;
  SqlQuery: SqlQuery;
  QueryAnswer: QueryAnswer;
  PeriodAction: PeriodAction;
  PeriodView: PeriodView;
  PeriodCloseResult: PeriodCloseResult;
  PeriodReopenResult: PeriodReopenResult;
  PeriodList: PeriodList;
  Verification: Verification;
  JobReport: JobReport;
  ConflictList: ConflictList;
  Conflict: Conflict;
  ConflictResolve: ConflictResolve;
  ConflictResolution: ConflictResolution;
  Whoami: Whoami;
  AdminStatus: AdminStatus;
  EventRows: EventRows;
}

// ---------------------------------------------------------------------------------------------
// Query parameters (names as on the wire; the client serializes them)

/** A range end: RFC 3339 / YYYY-MM-DD, or a Date (sent as its ISO string). */
export type TimeInput = string | Date;
/** One value or several (sent comma-separated: equality or IN). */
export type ListParam = string | readonly string[];

export interface RangeQuery {
  readonly from: TimeInput;
  readonly to: TimeInput;
}

/** GET /v1/accounts/{account_id}/usage */
export interface AccountUsageQuery {
  readonly from: TimeInput;
  readonly to: TimeInput;
  readonly group_by?: ListParam;
  readonly product_id?: ListParam;
  readonly meter_id?: ListParam;
  readonly model_id?: ListParam;
  readonly source?: Source;
}

/** GET /v1/accounts/{account_id}/usage/events */
export interface AccountEventsQuery {
  readonly from: TimeInput;
  readonly to: TimeInput;
  readonly meter_id?: ListParam;
  readonly product_id?: ListParam;
  /** Page size, 1 to the server's maximum (1000 by default; default 100). */
  readonly limit?: number;
  readonly cursor?: string;
}

/** POST /v1/admin/jobs/{job} (dry_run exists for gc only). */
export interface RunJobQuery {
  readonly dry_run?: boolean;
}

/** Parameter types by the names `routes.ts` refers to. */
export interface QueryTypes {
  RangeQuery: RangeQuery;
  AccountUsageQuery: AccountUsageQuery;
  AccountEventsQuery: AccountEventsQuery;
  RunJobQuery: RunJobQuery;
}
