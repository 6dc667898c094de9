/**
 * `track()` for hot paths: events are prepared (id minted) and buffered synchronously, then sent
 * by a flush on size (events or bytes), on a timer, on `flush()`/`close()`, and at Node's
 * `beforeExit`. The buffer is bounded and never drops: when full, `track()` throws BufferFullError.
 */
import { prepareEvent, type PreparedEvent, type UsageEventInput } from './batching.ts';
import { BufferFullError, EventsRejectedError, TrackerClosedError, UsageDbError } from './errors.ts';
import { emptyReport, type EventOutcome, type IngestReport } from './ingest.ts';

export interface TrackerOptions {
  /** Flush once this many events are buffered (default 500). */
  readonly flushEvents?: number;
  /** Flush once the buffered events' JSON reaches this many bytes (default 1 MiB). */
  readonly flushBytes?: number;
  /** Flush this long after the first event entered an empty buffer (default 2000 ms). */
  readonly flushIntervalMs?: number;
  /**
   * Most events held at once, buffered or being sent (default 100,000). While the server is down
   * unsent events stay held; at this bound `track()` throws BufferFullError instead of dropping.
   */
  readonly maxBufferedEvents?: number;
  /** Every failure of every flush, whoever triggered it (default: console.error). */
  readonly onError?: (err: UsageDbError) => void;
  /** Flush at Node's `beforeExit` (only where `process` exists; default true). */
  readonly flushOnExit?: boolean;
}

export interface TrackerDeps {
  /** Sends prepared events (the client's ingest); throws a UsageDbError with `ingest` progress on failure. */
  readonly send: (events: readonly PreparedEvent[]) => Promise<IngestReport>;
  readonly mintId: () => string;
  readonly now: () => number;
}

const NOT_STORED: ReadonlySet<string> = new Set(['conflict', 'rejected']);

interface ExitHooks {
  once?: (event: string, fn: () => void) => unknown;
  off?: (event: string, fn: () => void) => unknown;
}

export class Tracker {
  private readonly deps: TrackerDeps;
  private readonly flushEvents: number;
  private readonly flushBytes: number;
  private readonly flushIntervalMs: number;
  private readonly maxBuffered: number;
  private readonly onError: (err: UsageDbError) => void;
  private buffer: PreparedEvent[] = [];
  private bufferBytes = 0;
  private inFlight = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The tail of the flush chain: flushes run one at a time, in call order. */
  private chain: Promise<unknown> = Promise.resolve();
  private sizeFlushQueued = false;
  private closed = false;
  private readonly exitHook: (() => void) | undefined;
  private readonly proc: ExitHooks | undefined;

  constructor(deps: TrackerDeps, opts: TrackerOptions = {}) {
    this.deps = deps;
    this.flushEvents = positive(opts.flushEvents ?? 500, 'flushEvents');
    this.flushBytes = positive(opts.flushBytes ?? 1024 * 1024, 'flushBytes');
    this.flushIntervalMs = positive(opts.flushIntervalMs ?? 2000, 'flushIntervalMs');
    this.maxBuffered = positive(opts.maxBufferedEvents ?? 100_000, 'maxBufferedEvents');
    this.onError = opts.onError ?? ((err) => console.error(`usagedb tracker: ${err.name}: ${err.message}`));
    const proc = (globalThis as { process?: ExitHooks }).process;
    if ((opts.flushOnExit ?? true) && typeof proc?.once === 'function') {
      this.proc = proc;
      this.exitHook = () => void this.flush().catch(() => undefined);
      proc.once('beforeExit', this.exitHook);
    }
  }

  /** Events held: buffered plus being sent. */
  get pending(): number {
    return this.buffer.length + this.inFlight;
  }

  /**
   * Buffers one event and answers its event_id (minted now if missing, so a retry is the same
   * event). Throws BufferFullError at `maxBufferedEvents`, TrackerClosedError after close().
   */
  track(input: UsageEventInput): string {
    if (this.closed) throw new TrackerClosedError({ code: 'tracker_closed', message: 'track() after close()' });
    if (this.pending >= this.maxBuffered) {
      throw new BufferFullError({
        code: 'buffer_full',
        message: `${this.pending} events are waiting to be sent (maxBufferedEvents ${this.maxBuffered}); the server may be unreachable`,
        details: { pending: this.pending, limit: this.maxBuffered },
      });
    }
    const p = prepareEvent(input, this.deps.mintId, this.deps.now());
    this.buffer.push(p);
    this.bufferBytes += p.bytes;
    if (this.buffer.length >= this.flushEvents || this.bufferBytes >= this.flushBytes) this.queueSizeFlush();
    else this.armTimer();
    return p.event.event_id;
  }

  /**
   * Sends everything buffered when the flush starts (after any flush already running). Resolves
   * with the report when all of it is stored (accepted or duplicate); rejects otherwise: with the
   * send error (the unsent events go back to the front of the buffer) or EventsRejectedError.
   */
  flush(): Promise<IngestReport> {
    const run = this.chain.then(() => this.flushNow());
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Stops accepting events, flushes, and removes the timer and exit hook. Rejects like flush(). */
  async close(): Promise<IngestReport> {
    this.closed = true;
    this.clearTimer();
    if (this.exitHook !== undefined) this.proc?.off?.('beforeExit', this.exitHook);
    return this.flush();
  }

  private async flushNow(): Promise<IngestReport> {
    this.clearTimer();
    const batch = this.buffer;
    this.buffer = [];
    this.bufferBytes = 0;
    this.inFlight = batch.length;
    try {
      if (batch.length === 0) return emptyReport();
      let report: IngestReport;
      try {
        report = await this.deps.send(batch);
      } catch (err) {
        const progress = err instanceof UsageDbError ? err.ingest : undefined;
        const left = progress === undefined ? batch : progress.unacknowledged.map((u) => batch[u.index]!);
        this.buffer = [...left, ...this.buffer];
        this.bufferBytes = this.buffer.reduce((n, p) => n + p.bytes, 0);
        // Batches acknowledged before the failure may hold refused events: report those too.
        const refusedBefore = progress === undefined ? undefined : this.refused(progress.report, batch);
        if (refusedBefore !== undefined) this.report(refusedBefore);
        throw this.report(err);
      }
      const refused = this.refused(report, batch);
      if (refused !== undefined) throw this.report(refused);
      return report;
    } finally {
      this.inFlight = 0;
      if (this.buffer.length > 0) this.armTimer();
    }
  }

  /** The events of `report` the server did not store (conflict, rejected), as one error. */
  private refused(report: IngestReport, batch: readonly PreparedEvent[]): EventsRejectedError | undefined {
    const outcomes: EventOutcome[] = report.outcomes.filter((o) => NOT_STORED.has(o.status));
    return outcomes.length === 0
      ? undefined
      : new EventsRejectedError(
          outcomes,
          report,
          outcomes.map((o) => batch[o.index]!.event),
        );
  }

  /** Hands `err` to onError (a non-UsageDbError, i.e. a bug, wrapped so it is not lost) and returns it. */
  private report(err: unknown): unknown {
    const typed =
      err instanceof UsageDbError
        ? err
        : new UsageDbError({ code: 'client_error', message: `flush failed: ${err instanceof Error ? err.message : String(err)}`, cause: err });
    try {
      this.onError(typed);
    } catch {
      // A throwing onError must not break the tracker.
    }
    return err;
  }

  private queueSizeFlush(): void {
    if (this.sizeFlushQueued) return;
    this.sizeFlushQueued = true;
    this.chain = this.chain.then(() => {
      this.sizeFlushQueued = false;
      return this.flushNow().catch(() => undefined);
    });
  }

  private armTimer(): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush().catch(() => undefined);
    }, this.flushIntervalMs);
    // Node: a pending flush timer alone does not keep the process alive (beforeExit flushes).
    (this.timer as { unref?: () => void }).unref?.();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function positive(n: number, name: string): number {
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`tracker.${name} must be a positive number`);
  return n;
}
