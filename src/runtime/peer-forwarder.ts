/**
 * Several Node processes on one bucket (issue 14): each shard is committed by the process holding
 * its lease (ingest/shard-lease.ts); the others validate and hash as usual, then forward the
 * shard's events to the holder's internal route (api/routes/peer.ts) over HTTP, the way isolates
 * send them to a shard's Durable Object on Workers (sequencer-client.ts). The holder group-commits
 * everything waiting — its own requests' events and the forwarded ones — in one segment and one
 * manifest PUT, so N processes make one commit per round instead of N racing ones.
 *
 * Failure rules (billing-critical):
 * - the holder refused the connection (nothing was sent): commit locally (`unreachable` routes
 *   the shard direct for a moment, then the lease is taken once expired). Safe: If-Match.
 * - anything after the request may have been received (timeout, reset, a non-2xx answer that is
 *   not an answer of the route, an unparsable answer): 503 `commit_outcome_unknown`, Retry-After
 *   1. The holder may have committed; the client's retry is answered by dedupe.
 * - the holder answered an error (`{ok: false}`): raised again here as ForwardedError.
 */
import { CommitOutcomeUnknownError, ForwardedError, type ErrorWire } from '../errors.ts';
import type { RemoteShards, ShardSubmitter } from '../ingest/ingestor.ts';
import { encodeSubmit } from '../ingest/peer-wire.ts';
import type { ShardLeases } from '../ingest/shard-lease.ts';
import type { Outcome, PendingEvent } from '../ingest/shard-writer.ts';
import { BackgroundTasks, type Background } from '../lib/background.ts';
import type { Logger } from '../api/observability.ts';

export interface PeerCounters {
  /** Submissions (one shard of one request) sent to the holder, and their events. */
  forwardedRequests: number;
  forwardedEvents: number;
  /** Forwarded submissions whose outcome is unknown (503 commit_outcome_unknown). */
  forwardUnknown: number;
  /** Submissions committed here as the lease holder, and their events. */
  selfRequests: number;
  selfEvents: number;
  /** Submissions committed here without the lease (holder unreachable, lease unreadable). */
  directRequests: number;
  directEvents: number;
  /** Submissions other processes forwarded here, and their events. */
  receivedRequests: number;
  receivedEvents: number;
}

export interface PeerForwarderOptions {
  readonly leases: ShardLeases;
  /** This process's own writer of a shard. */
  readonly local: (shard: number) => ShardSubmitter;
  readonly token: string;
  /** How long a forwarded call may take before its outcome is unknown. */
  readonly timeoutMs: number;
  readonly logger?: Logger;
  /** The HTTP client (Node: peer-fetch.ts, with a short connect timeout); default the global fetch. */
  readonly fetch?: PeerFetch;
}

/** What the forwarder needs of fetch: a POST with a deadline, answered with a status and a body. */
export type PeerFetch = (
  url: string,
  init: { readonly method: 'POST'; readonly headers: Record<string, string>; readonly body: string; readonly signal: AbortSignal },
) => Promise<{ readonly status: number; text(): Promise<string> }>;

const OUTCOMES: ReadonlySet<string> = new Set<Outcome>(['accepted', 'duplicate', 'conflict', 'period_closed', 'period_closing']);

/** Errors that happen before a connection exists: nothing of the request was sent. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

export class PeerForwarder {
  readonly counters: PeerCounters = {
    forwardedRequests: 0,
    forwardedEvents: 0,
    forwardUnknown: 0,
    selfRequests: 0,
    selfEvents: 0,
    directRequests: 0,
    directEvents: 0,
    receivedRequests: 0,
    receivedEvents: 0,
  };
  private readonly o: PeerForwarderOptions;
  private readonly fetch: PeerFetch;
  /** History copies of commits made for peers' submissions (waited for on shutdown). */
  private readonly background = new BackgroundTasks();
  /** Forwarded calls not answered yet (waited for on shutdown: their requests are still open). */
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(o: PeerForwarderOptions) {
    this.o = o;
    this.fetch = o.fetch ?? fetch;
  }

  /** For the ingestor: each shard's submitter chooses, per call, between the holder and the local writer. */
  readonly shards: RemoteShards = (shard) => ({ submit: (events, background) => this.submit(shard, events, background) });

  async submit(shard: number, events: readonly PendingEvent[], background: Background): Promise<Outcome[]> {
    const route = await this.o.leases.route(shard);
    if (route.kind === 'peer') {
      const call = this.forward(shard, route.url, events);
      this.inflight.add(call);
      const answer = await call.finally(() => this.inflight.delete(call));
      if (!('refused' in answer)) return answer.outcomes;
      if (answer.refused === 'connection') this.o.logger?.warn('peer refused the connection; committing locally', { shard, peer: route.url });
      else this.o.logger?.error(`peer refused the call before committing; committing locally: ${answer.refused}`, { shard, peer: route.url });
      this.o.leases.unreachable(shard, route.url);
    }
    if (route.kind === 'self') {
      this.counters.selfRequests++;
      this.counters.selfEvents += events.length;
    } else {
      this.counters.directRequests++;
      this.counters.directEvents += events.length;
    }
    return this.o.local(shard).submit(events, background);
  }

  /** A submission a peer forwarded here: the local writer only, never forwarded again. */
  received(shard: number, events: readonly PendingEvent[], background: Background | undefined): Promise<Outcome[]> {
    this.counters.receivedRequests++;
    this.counters.receivedEvents += events.length;
    this.o.leases.touch(shard);
    return this.o.local(shard).submit(events, background ?? this.background.add);
  }

  /** Waits for forwarded calls in flight and the history copies of commits made for peers. */
  async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    await this.background.settle();
  }

  /**
   * The holder's outcomes, or why the call certainly committed nothing: the connection was refused
   * (nothing sent), or the holder's route refused it before committing — a 4xx without an answer
   * of the route (401: another USAGEDB_PEER_TOKEN; 404: no peer route at that URL; 400/413: a
   * body it cannot take, as from another version). The route answers everything after its commit
   * started with 200 and `{ok}`, so such a 4xx leaves nothing behind and committing locally is safe.
   */
  private async forward(shard: number, url: string, events: readonly PendingEvent[]): Promise<{ readonly outcomes: Outcome[] } | { readonly refused: string }> {
    const body = encodeSubmit(events);
    const signal = AbortSignal.timeout(this.o.timeoutMs);
    let res: Awaited<ReturnType<PeerFetch>>;
    try {
      res = await this.fetch(`${url}/internal/v1/shards/${shard}/submit`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.o.token}`, 'content-type': 'application/json' },
        body,
        signal,
      });
    } catch (err) {
      if (notConnected(err)) return { refused: 'connection' };
      throw this.unknown(shard, url, `the call failed (${describe(err)})`, err);
    }
    if (res.status >= 400 && res.status < 500) {
      // The route answers 200 once its commit started: a 4xx was decided before it.
      await res.text().catch(() => undefined);
      return { refused: refusal(res.status) };
    }
    this.counters.forwardedRequests++;
    this.counters.forwardedEvents += events.length;
    let parsed: unknown;
    try {
      parsed = JSON.parse(await res.text());
    } catch (err) {
      throw this.unknown(shard, url, `HTTP ${res.status} without a readable answer (${describe(err)})`, err);
    }
    const a = parsed as { ok?: unknown; value?: unknown; error?: Partial<ErrorWire> } | null;
    if (typeof a === 'object' && a !== null && a.ok === true && Array.isArray(a.value) && a.value.length === events.length) {
      if (a.value.every((o) => typeof o === 'string' && OUTCOMES.has(o))) return { outcomes: a.value as Outcome[] };
    }
    if (typeof a === 'object' && a !== null && a.ok === false && isErrorWire(a.error)) {
      throw new ForwardedError({ ...a.error, message: `shard ${shard} at ${url}: ${a.error.message}` });
    }
    throw this.unknown(shard, url, `HTTP ${res.status} without an answer of the peer route`);
  }

  private unknown(shard: number, url: string, what: string, cause?: unknown): CommitOutcomeUnknownError {
    this.counters.forwardUnknown++;
    this.o.logger?.warn('forwarded submit has an unknown outcome', { shard, peer: url, error: what });
    return new CommitOutcomeUnknownError(`shard ${shard}: its committer at ${url}: ${what}; what it was sent may or may not be committed`, {
      cause,
      retryAfterSeconds: 1,
    });
  }
}

/** Why a holder's route refused a call before committing, by its status. */
function refusal(status: number): string {
  if (status === 401) return 'it refused our token (USAGEDB_PEER_TOKEN must be the same on every process)';
  if (status === 404) return 'no peer route there (USAGEDB_PEER_URL unset on that process, or another service at that address)';
  return `HTTP ${status}: it cannot take what this process sends (another version?)`;
}

function isErrorWire(e: unknown): e is ErrorWire {
  const w = e as Partial<ErrorWire> | null | undefined;
  return (
    typeof w === 'object' &&
    w !== null &&
    typeof w.code === 'string' &&
    typeof w.message === 'string' &&
    (w.kind === 'user' || w.kind === 'retryable' || w.kind === 'outcome_unknown' || w.kind === 'fatal')
  );
}

/**
 * Whether `err` (from the peer fetch) failed before a connection existed: nothing was sent. Fetch
 * wraps the system error (`cause`); undici's `request` (Node, peer-fetch.ts) throws it as it is.
 */
export function notConnected(err: unknown): boolean {
  return refusedBefore(err) || refusedBefore((err as { cause?: unknown } | null)?.cause);
}

function refusedBefore(e: unknown): boolean {
  const sys = e as { code?: unknown; errors?: unknown } | null | undefined;
  if (typeof sys !== 'object' || sys === null) return false;
  if (typeof sys.code === 'string' && NOT_CONNECTED.has(sys.code)) return true;
  // Several addresses tried (happy eyeballs): refused only if every one was.
  if (Array.isArray(sys.errors) && sys.errors.length > 0) {
    return sys.errors.every((x: { code?: unknown }) => typeof x?.code === 'string' && NOT_CONNECTED.has(x.code));
  }
  return false;
}

function describe(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' && !msg.includes(code) ? `${msg}: ${code}` : msg;
}
