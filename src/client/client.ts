/**
 * `UsageDbClient`: one typed method per route of the HTTP API (answers typed by `routes.ts`),
 * `ingest()` with batching and safe retries, and a lazily created `track()` buffer. Holds the
 * configuration; the work is done by http.ts, ingest.ts and tracker.ts.
 */
import { prepareEvent, type UsageEventInput } from './batching.ts';
import { InvalidArgumentError, UnexpectedResponseError } from './errors.ts';
import { send, type CallOptions, type FetchLike, type HttpConfig } from './http.ts';
import { emptyReport, ingestPrepared, type IngestReport } from './ingest.ts';
import { DEFAULT_RETRY, defaultSleep, retryPolicy, type RetryPolicy, type Sleep } from './retry.ts';
import { fillPath, ROUTES, type OperationId, type ResponseOf } from './routes.ts';
import { Tracker, type TrackerOptions } from './tracker.ts';
import type {
  AccountEventsQuery,
  AccountUsage,
  AccountUsageQuery,
  AdminStatus,
  AuditRow,
  ConflictList,
  ConflictResolution,
  ConflictResolve,
  EventRows,
  EventsPage,
  Explanation,
  Health,
  JobReport,
  JsonQuery,
  PeriodAction,
  PeriodCloseResult,
  PeriodList,
  PeriodReopenResult,
  PeriodView,
  QueryAnswer,
  RangeQuery,
  TimeInput,
  Verification,
  Whoami,
} from './types.ts';
import { ulid } from './ulid.ts';

export interface UsageDbClientOptions {
  /** The server, e.g. `https://usage.example.com` (a path prefix is kept). */
  readonly baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  readonly apiKey?: string;
  /** Default: the global fetch. For an in-process Hono app: `(req) => app.fetch(req)`. */
  readonly fetch?: FetchLike;
  /** Events per ingest request (default 1,000; the server refuses more than its limit, 10,000 by default). */
  readonly maxBatchEvents?: number;
  /** Bytes of an ingest request body (default 8 MiB = 8,388,608, the server's default limit). */
  readonly maxBatchBytes?: number;
  /** Retries of 429/502/503/504 and network errors (default 5 attempts, 200 ms base, 10 s cap). */
  readonly retry?: Partial<RetryPolicy>;
  /** Per-attempt timeout (default 30,000 ms). */
  readonly timeoutMs?: number;
  /** Options of the buffer behind `track()`. */
  readonly tracker?: TrackerOptions;
  /** Extra headers on every request. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Injected for tests: sleep between retries, jitter source, clock (ids and default timestamps). */
  readonly sleep?: Sleep;
  readonly random?: () => number;
  readonly now?: () => number;
}

type JobQuery<J> = J extends 'gc' ? { readonly dry_run?: boolean } : { readonly dry_run?: false };

export class UsageDbClient {
  private readonly http: HttpConfig;
  private readonly limits: { readonly maxEvents: number; readonly maxBytes: number };
  private readonly trackerOptions: TrackerOptions | undefined;
  private tracker: Tracker | undefined;

  constructor(opts: UsageDbClientOptions) {
    if (typeof opts?.baseUrl !== 'string') throw new TypeError('baseUrl is required');
    const now = opts.now ?? Date.now;
    this.http = {
      baseUrl: opts.baseUrl,
      apiKey: opts.apiKey,
      fetch: opts.fetch ?? ((req) => fetch(req)),
      timeoutMs: positiveInt(opts.timeoutMs ?? 30_000, 'timeoutMs'),
      retry: retryPolicy(opts.retry, DEFAULT_RETRY),
      sleep: opts.sleep ?? defaultSleep,
      random: opts.random ?? Math.random,
      now,
      newRequestId: () => ulid(now()),
      headers: { ...opts.headers },
    };
    this.limits = {
      maxEvents: positiveInt(opts.maxBatchEvents ?? 1000, 'maxBatchEvents'),
      maxBytes: positiveInt(opts.maxBatchBytes ?? 8 * 1024 * 1024, 'maxBatchBytes'),
    };
    this.trackerOptions = opts.tracker;
  }

  // -------------------------------------------------------------------------------------------
  // Ingest

  /**
   * Stores `events`: ids are minted (ULID) for events without one before anything is sent, so a
   * retry resends the same events; batches of at most maxBatchEvents / maxBatchBytes are sent in
   * order, each retried on 429/502/503/504/network errors. Answers one outcome per event. A batch
   * that fails for good throws its typed error with `err.ingest` = what was acknowledged and the
   * unacknowledged events (ids included) to send again.
   */
  async ingest(events: readonly UsageEventInput[], opts?: CallOptions): Promise<IngestReport> {
    if (!Array.isArray(events)) throw new TypeError('ingest(events): events must be an array');
    const now = this.http.now();
    const mint = (): string => ulid(now);
    const prepared = events.map((e) => prepareEvent(e, mint, now));
    return ingestPrepared(this.http, prepared, this.limits, opts);
  }

  /** Buffers one event for a background flush and answers its event_id (see Tracker). */
  track(event: UsageEventInput): string {
    return this.getTracker().track(event);
  }

  /** Sends what `track()` buffered; rejects if any of it was not stored. */
  async flush(): Promise<IngestReport> {
    return this.tracker === undefined ? emptyReport() : this.tracker.flush();
  }

  /** Flushes the `track()` buffer and stops it (tracking afterwards throws TrackerClosedError). */
  close(): Promise<IngestReport> {
    // Never tracked: a closed tracker without an exit hook, so track() after close() still throws.
    this.tracker ??= this.createTracker({ ...this.trackerOptions, flushOnExit: false });
    return this.tracker.close();
  }

  /** Events `track()` holds that the server has not acknowledged yet. */
  get pendingEvents(): number {
    return this.tracker?.pending ?? 0;
  }

  /**
   * A separate buffer with its own options (the one behind `track()` uses the client's `tracker`
   * options); it sends through this client. Close each one you create.
   */
  createTracker(options?: TrackerOptions): Tracker {
    return new Tracker(
      { send: (prepared) => ingestPrepared(this.http, prepared, this.limits), mintId: () => ulid(this.http.now()), now: this.http.now },
      options,
    );
  }

  private getTracker(): Tracker {
    this.tracker ??= this.createTracker(this.trackerOptions);
    return this.tracker;
  }

  // -------------------------------------------------------------------------------------------
  // Queries

  /** GET /v1/accounts/{account_id}/usage: sums and counts over [from, to), grouped. */
  usage(accountId: string, query: AccountUsageQuery, opts?: CallOptions): Promise<AccountUsage> {
    return this.call('accountUsage', { account_id: accountId }, query, undefined, opts);
  }

  /** GET /v1/accounts/{account_id}/usage/events: one page of the audit trail. */
  events(accountId: string, query: AccountEventsQuery, opts?: CallOptions): Promise<EventsPage> {
    return this.call('accountEvents', { account_id: accountId }, query, undefined, opts);
  }

  /** Every page of the audit trail from `query.cursor` (or the start) on. */
  async *eventPages(accountId: string, query: AccountEventsQuery, opts?: CallOptions): AsyncGenerator<EventsPage, void, undefined> {
    let cursor = query.cursor;
    for (;;) {
      const page = await this.events(accountId, { ...query, ...(cursor === undefined ? {} : { cursor }) }, opts);
      yield page;
      if (page.next_cursor === null) return;
      if (page.next_cursor === cursor) {
        throw new UnexpectedResponseError({ code: 'unexpected_response', message: 'the events page answered the cursor it was given', status: 200 });
      }
      cursor = page.next_cursor;
    }
  }

  /** Every audit row in (timestamp_ms, event_id) order, fetched page by page. */
  async *iterateEvents(accountId: string, query: AccountEventsQuery, opts?: CallOptions): AsyncGenerator<AuditRow, void, undefined> {
    for await (const page of this.eventPages(accountId, query, opts)) yield* page.events;
  }

  /** GET /v1/accounts/{account_id}/explain: invoice lines, corrections and provenance. */
  explain(accountId: string, range: RangeQuery, opts?: CallOptions): Promise<Explanation> {
    return this.call('explainUsage', { account_id: accountId }, range, undefined, opts);
  }

  /** GET /v1/accounts/{account_id}/verify: raw vs rollup totals. */
  verify(accountId: string, range: RangeQuery, opts?: CallOptions): Promise<Verification> {
    return this.call('verifyAccount', { account_id: accountId }, range, undefined, opts);
  }

  /** POST /v1/query/json. */
  queryJson(query: Omit<JsonQuery, 'from' | 'to'> & { readonly from: TimeInput; readonly to: TimeInput }, opts?: CallOptions): Promise<QueryAnswer> {
    const body: JsonQuery = { ...query, from: timeParam(query.from), to: timeParam(query.to) };
    return this.call('queryJson', {}, undefined, body, opts);
  }

  /** POST /v1/query/sql (sent as `{"sql": ...}`). */
  querySql(sql: string, opts?: CallOptions): Promise<QueryAnswer> {
    return this.call('querySql', {}, undefined, { sql }, opts);
  }

  // -------------------------------------------------------------------------------------------
  // Billing periods (period: YYYY-MM)

  getPeriod(accountId: string, period: string, opts?: CallOptions): Promise<PeriodView> {
    return this.call('getPeriod', { account_id: accountId, period }, undefined, undefined, opts);
  }

  listPeriods(accountId: string, opts?: CallOptions): Promise<PeriodList> {
    return this.call('listPeriods', { account_id: accountId }, undefined, undefined, opts);
  }

  /** Idempotent: closing a closed period answers `already_closed: true` (also after a retried close). */
  closePeriod(accountId: string, period: string, action: PeriodAction = {}, opts?: CallOptions): Promise<PeriodCloseResult> {
    return this.call('closePeriod', { account_id: accountId, period }, undefined, action, opts);
  }

  /** Reopening an open period changes nothing (`reopened: false`). */
  reopenPeriod(accountId: string, period: string, action: PeriodAction = {}, opts?: CallOptions): Promise<PeriodReopenResult> {
    return this.call('reopenPeriod', { account_id: accountId, period }, undefined, action, opts);
  }

  // -------------------------------------------------------------------------------------------
  // Admin and system

  /** POST /v1/admin/jobs/{job}; `dry_run` exists for gc only. */
  runJob<J extends 'rollup' | 'compact' | 'gc'>(job: J, query?: JobQuery<J>, opts?: CallOptions): Promise<JobReport> {
    return this.call('runJob', { job }, query ?? {}, undefined, opts);
  }

  /** GET /v1/admin/conflicts. */
  conflicts(opts?: CallOptions): Promise<ConflictList> {
    return this.call('listConflicts', {}, undefined, undefined, opts);
  }

  /** POST /v1/admin/conflicts/{id}/resolve: keep first, second or both copies of a quarantined conflict. */
  resolveConflict(id: string, decision: ConflictResolve, opts?: CallOptions): Promise<ConflictResolution> {
    return this.call('resolveConflict', { id }, undefined, decision, opts);
  }

  /** GET /v1/admin/status: every shard's manifest summary and this instance's counters. */
  adminStatus(opts?: CallOptions): Promise<AdminStatus> {
    return this.call('adminStatus', {}, undefined, undefined, opts);
  }

  /** GET /v1/whoami: the name and scopes of the key this client sends. */
  whoami(opts?: CallOptions): Promise<Whoami> {
    return this.call('whoami', {}, undefined, undefined, opts);
  }

  /** GET /v1/accounts/{a}/usage/events/{event_id}: every stored row of one event id (two or more: a conflict). */
  eventRows(accountId: string, eventId: string, opts?: CallOptions): Promise<EventRows> {
    return this.call('accountEventRows', { account_id: accountId, event_id: eventId }, undefined, undefined, opts);
  }

  /** GET /console: the web console's page (HTML). */
  console(opts?: CallOptions): Promise<string> {
    return this.call('console', {}, undefined, undefined, opts);
  }

  /** GET /console/assets/{name}: one of the console's script or style assets. */
  consoleAsset(name: string, opts?: CallOptions): Promise<string> {
    return this.call('consoleAsset', { name }, undefined, undefined, opts);
  }

  /** GET /health; a degraded store answers 503 with the same shape, returned (not thrown). */
  async health(opts?: CallOptions): Promise<Health> {
    const a = await send<Health>(this.http, { method: 'GET', path: ROUTES.health.path, answerStatuses: [503] }, { retry: false, ...opts });
    return a.body;
  }

  /** GET /metrics: the Prometheus text. */
  metrics(opts?: CallOptions): Promise<string> {
    return this.call('metrics', {}, undefined, undefined, opts);
  }

  /** GET /openapi.json: the OpenAPI 3.1 document. */
  openapi(opts?: CallOptions): Promise<Record<string, unknown>> {
    return this.call('openapi', {}, undefined, undefined, opts);
  }

  /** GET /docs: the HTML reference. */
  docs(opts?: CallOptions): Promise<string> {
    return this.call('docs', {}, undefined, undefined, opts);
  }

  private async call<K extends OperationId>(
    op: K,
    path: Readonly<Record<string, string>>,
    query: object | undefined,
    body: unknown,
    opts: CallOptions | undefined,
  ): Promise<ResponseOf<K>> {
    const route = ROUTES[op];
    for (const [name, value] of Object.entries(path)) checkPathParam(name, value);
    const a = await send<ResponseOf<K>>(
      this.http,
      {
        method: route.method,
        path: fillPath(route.path, path),
        ...(query === undefined ? {} : { query: queryParams(query) }),
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(route.response === 'text' ? { expect: 'text' as const } : {}),
      },
      opts,
    );
    return a.body;
  }
}

/** Path segments the URL parser would rewrite ("." and "..") or drop (""): no URL can carry them. */
function checkPathParam(name: string, value: string): void {
  if (typeof value !== 'string' || value === '' || value === '.' || value === '..') {
    throw new InvalidArgumentError({
      code: 'invalid_argument',
      message: `${name}: ${JSON.stringify(value)} cannot be sent in a URL path${name === 'account_id' ? ' (queryJson with account_id can read it)' : ''}`,
      details: { field: name },
    });
  }
}

function timeParam(t: TimeInput): string {
  return t instanceof Date ? t.toISOString() : t;
}

/** Wire query parameters: undefined dropped, lists comma-joined, Dates as ISO strings. */
export function queryParams(query: object): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(query) as [string, unknown][]) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) {
      for (const item of v) {
        if (typeof item === 'string' && item.includes(',')) {
          throw new InvalidArgumentError({
            code: 'invalid_argument',
            message: `${k}: the value ${JSON.stringify(item)} contains a comma, which this route reads as a list separator (queryJson filters take lists)`,
            details: { field: k },
          });
        }
      }
      out[k] = v.join(',');
    } else if (v instanceof Date) out[k] = v.toISOString();
    else out[k] = String(v);
  }
  return out;
}

function positiveInt(n: number, name: string): number {
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`${name} must be a positive integer`);
  return n;
}
