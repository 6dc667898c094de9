/**
 * A fake `fetch` for client unit tests: records every request and answers from a script, plus a
 * tiny ingest server that dedupes by event_id like the real one (same payload: duplicate; other
 * payload: conflict) and can commit a batch and then fail the answer, as a lost answer does.
 */
import type { UsageEventInput } from '../../src/client/batching.ts';
import type { FetchLike } from '../../src/client/http.ts';

export interface Seen {
  readonly method: string;
  readonly url: URL;
  readonly headers: Headers;
  readonly body: string;
}

export type Handler = (req: Seen, n: number) => Response | Promise<Response>;

export function fakeFetch(handler: Handler): { fetch: FetchLike; seen: Seen[] } {
  const seen: Seen[] = [];
  const fetch: FetchLike = async (request) => {
    const req: Seen = { method: request.method, url: new URL(request.url), headers: request.headers, body: await request.text() };
    seen.push(req);
    return handler(req, seen.length);
  };
  return { fetch, seen };
}

export const json = (body: unknown, status = 200, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

export const errorAnswer = (status: number, code: string, message = code, headers: Record<string, string> = {}): Response =>
  json({ error: { code, message } }, status, headers);

/** What a fault does to one ingest request. */
export type Fault =
  | { readonly type: 'answer'; readonly response: () => Response }
  /** Commit the batch, then answer this instead (the client never sees the real answer). */
  | { readonly type: 'commit-then'; readonly response: () => Response }
  /** Commit the batch, then fail like a dropped connection. */
  | { readonly type: 'commit-then-drop' }
  | { readonly type: 'drop' }
  /** Hold the request until `until` resolves, then answer normally. */
  | { readonly type: 'wait'; readonly until: Promise<void> };

/** Ingest with dedupe by event_id; `faults` are consumed one per request, in order. */
export class FakeIngestServer {
  readonly stored = new Map<string, string>();
  readonly faults: (Fault | undefined)[] = [];
  /** Event positions the server rejects as invalid: event_id → reason. */
  readonly invalid = new Map<string, string>();
  readonly requests: { events: Record<string, unknown>[]; answered: number | 'dropped' }[] = [];
  readonly seen: Seen[];
  readonly fetch: FetchLike;

  constructor() {
    const f = fakeFetch((req) => this.handle(req));
    this.fetch = f.fetch;
    this.seen = f.seen;
  }

  private async handle(req: Seen): Promise<Response> {
    if (req.url.pathname !== '/v1/usage/batch') return errorAnswer(404, 'not_found');
    const events = (JSON.parse(req.body) as { events: Record<string, unknown>[] }).events;
    const fault = this.faults.shift();
    const entry: (typeof this.requests)[number] = { events, answered: 'dropped' };
    this.requests.push(entry);
    if (fault?.type === 'drop') throw new TypeError('fetch failed');
    if (fault?.type === 'wait') await fault.until;
    if (fault?.type === 'answer') {
      const r = fault.response();
      entry.answered = r.status;
      return r;
    }
    const result = this.commit(events);
    if (fault?.type === 'commit-then-drop') throw new TypeError('fetch failed: other side closed');
    if (fault?.type === 'commit-then') {
      const r = fault.response();
      entry.answered = r.status;
      return r;
    }
    entry.answered = 200;
    return json(result);
  }

  commit(events: readonly Record<string, unknown>[]): { accepted: number; duplicates: number; conflicts: number; rejected: number; errors: unknown[] } {
    const r = { accepted: 0, duplicates: 0, conflicts: 0, rejected: 0, errors: [] as unknown[] };
    events.forEach((e, index) => {
      const id = e.event_id as string;
      const bad = this.invalid.get(id);
      if (bad !== undefined) {
        r.rejected++;
        r.errors.push({ index, event_id: id, reason: bad });
        return;
      }
      const { ingested_at_ms: _ignored, ...payload } = e;
      const canon = JSON.stringify(payload);
      const prev = this.stored.get(id);
      if (prev === undefined) {
        this.stored.set(id, canon);
        r.accepted++;
      } else if (prev === canon) r.duplicates++;
      else {
        r.conflicts++;
        r.errors.push({ index, event_id: id, reason: 'conflict: this event_id was already ingested with a different payload' });
      }
    });
    return r;
  }
}

/** A usage event without an id (the client mints one). */
export function ev(i: number, over: Partial<UsageEventInput> = {}): UsageEventInput {
  return {
    account_id: `acct-${i % 3}`,
    product_id: 'chat',
    meter_id: 'tokens',
    source: 'api',
    unit: 'tokens',
    timestamp_ms: 1_767_225_600_000 + i,
    quantity: i + 1,
    ...over,
  };
}

/** A sleep that returns at once and records what it was asked to wait. */
export function recordingSleep(): { sleep: (ms: number) => Promise<void>; waits: number[] } {
  const waits: number[] = [];
  return { sleep: async (ms: number) => void waits.push(ms), waits };
}
