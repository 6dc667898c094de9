/**
 * POST /internal/v1/shards/:shard/submit — between Node processes of one database (issue 14):
 * the process holding a shard's lease commits the events other processes validated and hashed.
 * Mounted only when USAGEDB_PEER_URL is set; not in the public OpenAPI document.
 *
 * Auth: `Authorization: Bearer <USAGEDB_PEER_TOKEN>`, compared as SHA-256 digests in constant
 * time (API keys are not accepted here, and the peer token is accepted nowhere else). The events
 * go to this process's own writer of the shard, whether or not it still holds the lease (the
 * manifest's If-Match keeps that correct), and are never forwarded again: no loops.
 *
 * Answer: `SequencerAnswer<Outcome[]>` as JSON — `{ok: true, value: outcomes}`, or `{ok: false,
 * error: ErrorWire}` when the commit failed; the caller raises the error again (ForwardedError).
 */
import type { Hono } from 'hono';
import { errorToWire, UnauthorizedError, ValidationError } from '../../errors.ts';
import { decodeSubmit } from '../../ingest/peer-wire.ts';
import type { Outcome, PendingEvent } from '../../ingest/shard-writer.ts';
import type { Background } from '../../lib/background.ts';
import { HASH_WORDS } from '../../segment/raw.ts';
import { equalConstantTime, sha256 } from '../auth.ts';
import type { AppEnv } from '../env.ts';
import type { PeerScrape } from '../metrics.ts';
import { readJson } from '../json.ts';

/** What the route needs of the process: the token's digest and its own shard writers. */
export interface PeerHost {
  /** SHA-256 of USAGEDB_PEER_TOKEN. */
  readonly tokenDigest: Uint8Array;
  readonly shardCount: number;
  readonly maxEvents: number;
  /** Commits on this process's own writer of `shard` (never forwards). */
  submit(shard: number, events: readonly PendingEvent[], background: Background | undefined): Promise<Outcome[]>;
  /** Counters for /metrics: who committed, who forwarded, what the leases did. */
  counters(): PeerScrape;
}

export const PEER_SUBMIT_PATH = '/internal/v1/shards/:shard/submit';

export function peerRoutes(app: Hono<AppEnv>, host: PeerHost): void {
  // The token once it matched (as auth.ts remembers API keys): its SHA-256 is an asynchronous
  // WebCrypto call per request otherwise. A token that does not match is always hashed and
  // compared in constant time.
  // Compared as bytes in constant time too: `!==` on strings stops at the first difference.
  let verified: Uint8Array | undefined;
  const utf8 = new TextEncoder();
  app.post(PEER_SUBMIT_PATH, async (c) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '');
    const token = m?.[1];
    const bytes = token === undefined ? undefined : utf8.encode(token);
    const remembered = bytes !== undefined && verified !== undefined && equalConstantTime(bytes, verified);
    if (token === undefined || (!remembered && !equalConstantTime(await sha256(token), host.tokenDigest))) {
      throw new UnauthorizedError('authorization: this route takes the peer token (USAGEDB_PEER_TOKEN) only');
    }
    verified = bytes;
    const shardText = c.req.param('shard');
    const shard = /^[0-9]{1,5}$/.test(shardText) ? Number(shardText) : -1;
    if (shard < 0 || shard >= host.shardCount) {
      throw new ValidationError(`shard: ${shardText.slice(0, 16)} is not a shard of this database (0..${host.shardCount - 1})`, 'shard');
    }
    const { events, hashes } = decodeSubmit(await readJson(c.req.raw), host.maxEvents);
    const pending: PendingEvent[] = events.map((event, i) => ({ event, hashes, at: i * HASH_WORDS }));
    try {
      return c.json({ ok: true, value: await host.submit(shard, pending, c.get('background')) });
    } catch (err) {
      return c.json({ ok: false, error: errorToWire(err) });
    }
  });
}
