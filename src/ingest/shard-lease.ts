/**
 * Which process commits each shard, when several Node processes serve one bucket: a lease object
 * per shard (`shards/NN/lease.json`) taken and renewed with conditional PUTs. The holder commits
 * the shard's events for everyone; the others forward theirs to it (runtime/peer-forwarder.ts),
 * so one manifest key sees one writer and one group commit instead of N racing ones.
 *
 * A lease serves performance only. The manifest's conditional PUT (If-Match) stays the commit
 * point: two processes that both believe they hold a shard (clock skew, a slow renewal, a holder
 * that cannot be reached) both commit with If-Match, and nothing is lost or counted twice. So
 * every doubt here resolves to "commit locally" (`direct`), never to waiting.
 *
 * Runtime-agnostic: only the ObjectStore and the injected clock.
 */
import type { Clock } from '../model/deps.ts';
import { ShardKeys } from '../manifest/keys.ts';
import { isRejectedWrite } from '../store/errors.ts';
import type { ObjectStore } from '../store/types.ts';

/** What lease.json holds. */
export interface LeaseBody {
  readonly format: 1;
  /** Base URL the holder answers the internal submit route on. */
  readonly holder_url: string;
  /** Random per process: a restarted process at the same URL is another holder. */
  readonly holder_id: string;
  /** By the holder's clock. */
  readonly expires_at_ms: number;
  readonly acquired_at_ms: number;
}

/**
 * Where a shard's events go: `self` (this process holds the lease), `peer` (forward to the
 * holder), `direct` (commit here without the lease: the holder is unreachable, or the lease
 * could not be read or taken; always safe thanks to If-Match).
 */
export type Route = { readonly kind: 'self' } | { readonly kind: 'peer'; readonly url: string } | { readonly kind: 'direct' };

export interface ShardLeasesOptions {
  readonly store: ObjectStore;
  readonly prefix: string;
  readonly shardCount: number;
  readonly clock: Clock;
  /** This process's base URL as the others reach it. */
  readonly url: string;
  /** Random per process. */
  readonly holderId: string;
  /** How long a lease lasts; renewed once less than half remains. */
  readonly leaseMs: number;
  /** How long a shard is committed directly after its holder refused a connection (default 1,000). */
  readonly directMs?: number;
  /** Told when the store answered something unexpected (logging). */
  readonly onError?: (shard: number, what: string, err: unknown) => void;
}

interface Known {
  readonly body: LeaseBody;
  readonly etag: string;
}

interface ShardState {
  /** The lease as last read or written. */
  known: Known | undefined;
  /** Whether `known` is ours (we wrote it). */
  mine: boolean;
  /** One acquisition at a time per shard: concurrent routes share it. */
  acquiring: Promise<Route> | undefined;
  renewing: Promise<void> | undefined;
  /** Until then: commit directly (the holder refused a connection, or the lease could not be read). */
  directUntil: number;
  /** The ETag of a lease whose holder could not be reached: not followed again unless renewed. */
  unreachableEtag: string | undefined;
}

/** Lease events, for /metrics. */
export interface LeaseStats {
  acquisitions: number;
  renewals: number;
  /** Leases found held by another process. */
  followed: number;
  /** Times a shard was routed to direct commits (holder unreachable, store trouble). */
  directFallbacks: number;
  releases: number;
}

export class ShardLeases {
  private readonly o: ShardLeasesOptions;
  private readonly shards = new Map<number, ShardState>();
  private released = false;
  readonly stats: LeaseStats = { acquisitions: 0, renewals: 0, followed: 0, directFallbacks: 0, releases: 0 };

  constructor(o: ShardLeasesOptions) {
    this.o = o;
  }

  get url(): string {
    return this.o.url;
  }

  /** Where `shard`'s events go now. Never throws: trouble with the lease routes `direct`. */
  route(shard: number): Route | Promise<Route> {
    const st = this.state(shard);
    const now = this.o.clock.now();
    if (this.released) return { kind: 'direct' };
    if (st.mine && st.known !== undefined && now < st.known.body.expires_at_ms) {
      if (st.known.body.expires_at_ms - now < this.o.leaseMs / 2) this.renew(shard, st);
      return { kind: 'self' };
    }
    if (now < st.directUntil) return { kind: 'direct' };
    if (!st.mine && st.known !== undefined && now < st.known.body.expires_at_ms) return { kind: 'peer', url: st.known.body.holder_url };
    st.acquiring ??= this.acquire(shard, st).finally(() => {
      st.acquiring = undefined;
    });
    return st.acquiring;
  }

  /**
   * Renews the lease if this process holds it and half of it has run out: the holder of a shard
   * that only peers send events to calls this on each forwarded call.
   */
  touch(shard: number): void {
    const st = this.state(shard);
    if (this.released || !st.mine || st.known === undefined) return;
    if (st.known.body.expires_at_ms - this.o.clock.now() < this.o.leaseMs / 2) this.renew(shard, st);
  }

  /**
   * The holder at `url` could not be reached (nothing was sent): commit `shard` directly for a
   * moment (`directMs`), then read the lease again: taken when released or expired (a holder that
   * died cannot renew it), followed again only once renewed (its holder is alive). The same lease
   * still live keeps this process committing directly until it expires, rather than sending
   * every request to a host that does not answer.
   */
  unreachable(shard: number, url: string): void {
    const st = this.state(shard);
    this.stats.directFallbacks++;
    st.directUntil = Math.max(st.directUntil, this.o.clock.now() + (this.o.directMs ?? 1000));
    if (!st.mine && st.known?.body.holder_url === url) {
      st.unreachableEtag = st.known.etag;
      st.known = undefined;
    }
  }

  /** Whether this process holds `shard`'s lease (by its own clock). */
  holds(shard: number): boolean {
    const st = this.shards.get(shard);
    return st?.mine === true && st.known !== undefined && this.o.clock.now() < st.known.body.expires_at_ms;
  }

  /**
   * On shutdown: every lease this process holds is written expired (If-Match), so a peer takes
   * the shard at once instead of after the lease runs out. From now on every shard routes direct.
   */
  async release(): Promise<void> {
    this.released = true;
    await Promise.all(
      [...this.shards.entries()].map(async ([shard, st]) => {
        await st.renewing?.catch(() => undefined);
        if (!st.mine || st.known === undefined) return;
        const body: LeaseBody = { ...st.known.body, expires_at_ms: 0 };
        st.mine = false;
        try {
          await this.o.store.put(this.key(shard), encode(body), { ifMatch: st.known.etag, contentType: 'application/json' });
          this.stats.releases++;
        } catch (err) {
          if (!isRejectedWrite(err)) this.o.onError?.(shard, 'release', err);
        }
      }),
    );
  }

  // ---- internals ----

  private state(shard: number): ShardState {
    let st = this.shards.get(shard);
    if (st === undefined) {
      st = { known: undefined, mine: false, acquiring: undefined, renewing: undefined, directUntil: 0, unreachableEtag: undefined };
      this.shards.set(shard, st);
    }
    return st;
  }

  private key(shard: number): string {
    return new ShardKeys(this.o.prefix, shard, this.o.shardCount).lease;
  }

  private fresh(acquiredAt?: number): LeaseBody {
    const now = this.o.clock.now();
    return { format: 1, holder_url: this.o.url, holder_id: this.o.holderId, expires_at_ms: now + this.o.leaseMs, acquired_at_ms: acquiredAt ?? now };
  }

  /** Reads the lease and takes it when absent, expired or left by an earlier process at our URL. */
  private async acquire(shard: number, st: ShardState): Promise<Route> {
    const key = this.key(shard);
    try {
      // Two lost races in a row: someone else is taking it right now; follow whoever won.
      for (let tries = 0; tries < 3; tries++) {
        const res = await this.o.store.get(key);
        const now = this.o.clock.now();
        if (res?.notModified) throw new Error('unconditional get answered not-modified');
        const current = res === null ? undefined : { body: decode(res.body), etag: res.info.etag };
        const taken =
          current?.body !== undefined &&
          now < current.body.expires_at_ms &&
          // A lease of an earlier process at our URL: that process is gone (we answer there now).
          current.body.holder_url !== this.o.url;
        if (taken && current.body !== undefined && current.etag === st.unreachableEtag) {
          // Not renewed since its holder could not be reached: direct until it expires (at most
          // one lease term by our clock), then it is taken.
          st.directUntil = Math.min(current.body.expires_at_ms, now + this.o.leaseMs) + 1;
          this.stats.directFallbacks++;
          return { kind: 'direct' };
        }
        if (taken && current.body !== undefined) {
          st.unreachableEtag = undefined;
          st.known = { body: current.body, etag: current.etag };
          st.mine = false;
          this.stats.followed++;
          return { kind: 'peer', url: current.body.holder_url };
        }
        const body = this.fresh();
        try {
          const put = await this.o.store.put(key, encode(body), {
            ...(current === undefined ? { ifNoneMatch: '*' as const } : { ifMatch: current.etag }),
            contentType: 'application/json',
          });
          if (this.released) return { kind: 'direct' };
          st.known = { body, etag: put.etag };
          st.mine = true;
          this.stats.acquisitions++;
          return { kind: 'self' };
        } catch (err) {
          if (!isRejectedWrite(err)) throw err;
          // Someone else wrote it first: read again and follow them.
        }
      }
    } catch (err) {
      this.o.onError?.(shard, 'acquire', err);
    }
    // The store did not let us read or take it: commit here for a moment, as before peering.
    st.mine = false;
    st.known = undefined;
    st.directUntil = this.o.clock.now() + (this.o.directMs ?? 1000);
    this.stats.directFallbacks++;
    return { kind: 'direct' };
  }

  private renew(shard: number, st: ShardState): void {
    if (st.renewing !== undefined || st.known === undefined) return;
    const was = st.known;
    const body = this.fresh(was.body.acquired_at_ms);
    st.renewing = this.o.store
      .put(this.key(shard), encode(body), { ifMatch: was.etag, contentType: 'application/json' })
      .then(
        (put) => {
          if (this.released || st.known !== was) return;
          st.known = { body, etag: put.etag };
          this.stats.renewals++;
        },
        (err) => {
          if (isRejectedWrite(err)) {
            // Someone else took it (our lease had run out by their clock): read it again next time.
            if (st.known === was) {
              st.known = undefined;
              st.mine = false;
            }
          } else this.o.onError?.(shard, 'renew', err);
        },
      )
      .finally(() => {
        st.renewing = undefined;
      });
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function encode(body: LeaseBody): Uint8Array {
  return encoder.encode(JSON.stringify(body));
}

/** The lease in `bytes`, or undefined when they are not one (then it is taken over like an expired one). */
export function decode(bytes: Uint8Array): LeaseBody | undefined {
  try {
    const v = JSON.parse(decoder.decode(bytes)) as Partial<LeaseBody> | null;
    if (
      v === null ||
      typeof v !== 'object' ||
      v.format !== 1 ||
      typeof v.holder_url !== 'string' ||
      typeof v.holder_id !== 'string' ||
      typeof v.expires_at_ms !== 'number' ||
      typeof v.acquired_at_ms !== 'number'
    )
      return undefined;
    return v as LeaseBody;
  } catch {
    return undefined;
  }
}
