/**
 * Builds everything an instance serves from a config and a store: the Database, the ingest,
 * query and period services, and the Hono app. Runtime-neutral: Node, Workers and Lambda entry
 * points each bring their own store construction, clock and logger, and call this.
 */
import type { Hono } from 'hono';
import { createApp } from '../api/app.ts';
import { parseApiKeys, type ApiKey } from '../api/auth.ts';
import type { AppEnv } from '../api/env.ts';
import type { Logger } from '../api/observability.ts';
import { Metrics } from '../api/metrics.ts';
import { StoreUnsafeError, ValidationError } from '../errors.ts';
import { Ingestor, type RemoteShards } from '../ingest/ingestor.ts';
import type { IngestOptions } from '../ingest/limits.ts';
import type { CommitPolicy } from '../manifest/backoff.ts';
import type { JobOptions } from '../jobs/run.ts';
import { Database, type OpenOptions as DatabaseOptions } from '../manifest/database.ts';
import type { Sequencer } from '../manifest/manifest-store.ts';
import type { Deps } from '../model/deps.ts';
import { PeriodService } from '../period/periods.ts';
import { ShardLeases } from '../ingest/shard-lease.ts';
import { newId } from '../model/deps.ts';
import { sha256 } from '../api/auth.ts';
import { PeerForwarder, type PeerFetch } from './peer-forwarder.ts';
import { QueryEngine, type QueryOptions } from '../query/engine.ts';
import type { ObjectStore } from '../store/types.ts';
import type { ProbeReport } from '../store/probe.ts';
import type { Config } from './config.ts';
// Native zlib for segment columns on every runtime that builds services (Node, Lambda, Workers).
import './native-deflate.ts';

export interface Services {
  readonly db: Database;
  readonly ingestor: Ingestor;
  readonly engine: QueryEngine;
  readonly periods: PeriodService;
  readonly metrics: Metrics;
  readonly app: Hono<AppEnv>;
  readonly keys: readonly ApiKey[];
  /** Job bounds from the configuration, for every entry point that runs jobs. */
  readonly jobOptions: JobOptions;
  /**
   * Several Node processes on one bucket (USAGEDB_PEER_URL): the shard leases and the forwarder
   * that sends a shard's events to its holder. Release the leases on shutdown.
   */
  readonly peers?: { readonly leases: ShardLeases; readonly forwarder: PeerForwarder };
}

export interface BuildOptions {
  readonly config: Config;
  readonly store: ObjectStore;
  readonly deps: Deps;
  readonly logger: Logger;
  /** Whether the server is reachable only from this machine (an open server is allowed only then). */
  readonly loopbackOnly: boolean;
  /** Serve /metrics without a key (Workers keep it behind admin; Node too unless told). */
  readonly publicMetrics?: boolean;
  /**
   * Whether concurrent requests may share in-flight work: group commit, single-flight manifest
   * loads, shared segment fetches (default true). Workers set false: workerd cancels a request
   * whose promise another request settles, so there requests share data (caches), never promises.
   */
  readonly crossRequestSharing?: boolean;
  /** Whether each request comes with an ExecutionContext (Workers), whose waitUntil outlives the answer. */
  readonly executionContext?: boolean;
  /**
   * Each shard's sequencer, when one writes and commits the shard for every instance (a Durable
   * Object per shard on Workers): ingest sends each shard's events there, and commits given as
   * data (jobs' edits) go there too. Without it this instance writes and commits itself.
   */
  readonly sequencers?: { readonly ingest: RemoteShards; readonly edits: (shard: number) => Sequencer };
  /**
   * Run the startup probe of conditional writes (default true). A shard sequencer turns it off: it
   * is reached only through an instance that probed and refuses to forward writes when the probe
   * failed, and the probe rewrites one key, which R2 admits about once a second.
   */
  readonly probe?: boolean;
  /** The fetch that forwards a shard's events to its lease holder (USAGEDB_PEER_URL); Node's is peer-fetch.ts. */
  readonly peerFetch?: PeerFetch;
  /** Settings the environment does not carry (tests, benchmarks): merged over the configuration. */
  readonly tuning?: {
    readonly ingest?: Partial<IngestOptions>;
    readonly query?: Partial<QueryOptions>;
    readonly commitPolicy?: Partial<CommitPolicy>;
    readonly parts?: DatabaseOptions['parts'];
  };
}

type SequencerOptions = NonNullable<BuildOptions['sequencers']>;

/**
 * The sequencers, refusing what this instance would refuse to write itself: nothing is forwarded
 * when this instance's probe found a store that ignores conditional writes (the sequencers do
 * not probe, see BuildOptions.probe).
 */
function guardedSequencers(s: SequencerOptions, probe: () => ProbeReport): SequencerOptions {
  const guard = () => {
    const p = probe();
    if (!p.ok) throw new StoreUnsafeError(`writes are refused: the store does not honour conditional writes (${p.problems.join('; ')})`);
  };
  return {
    ingest: (shard) => ({
      submit: (events, background) => {
        guard();
        return s.ingest(shard).submit(events, background);
      },
    }),
    edits: (shard) => {
      const sequencer = s.edits(shard);
      return (edits) => {
        guard();
        return sequencer(edits);
      };
    },
  };
}

export async function buildServices(o: BuildOptions): Promise<Services> {
  const keys = await parseApiKeys(o.config.apiKeys);
  if (keys.length === 0) {
    if (!o.loopbackOnly) {
      throw new ValidationError(
        'configuration: USAGEDB_API_KEYS: no API keys are configured and the server is reachable from other machines; set keys (see README) or bind to 127.0.0.1',
        'USAGEDB_API_KEYS',
      );
    }
    o.logger.warn('no API keys configured: the API is open to anyone on this machine (loopback only)');
  }
  const sharing = o.crossRequestSharing ?? true;
  const sequencers = o.sequencers === undefined ? undefined : guardedSequencers(o.sequencers, () => db.probe);
  const db: Database = await Database.open({
    store: o.store,
    prefix: o.config.prefix,
    deps: o.deps,
    create: o.config.newDatabase,
    shareLoads: sharing,
    ...(o.probe === false ? { probe: false } : {}),
    ...(sequencers === undefined ? {} : { sequencer: sequencers.edits }),
    ...(o.tuning?.commitPolicy === undefined ? {} : { commitPolicy: o.tuning.commitPolicy }),
    ...(o.tuning?.parts === undefined ? {} : { parts: o.tuning.parts }),
  });
  if (!db.probe.ok) o.logger.error('the store ignores conditional writes: writes are refused', { problems: db.probe.problems });
  const peers: Peers | undefined = o.config.peers === undefined || sequencers !== undefined ? undefined : buildPeers(o, db, (): Ingestor => ingestor);
  const ingestor: Ingestor = new Ingestor(db, { ...o.config.ingest, groupCommit: sharing, ...o.tuning?.ingest }, sequencers?.ingest ?? peers?.forwarder.shards);
  const engine = new QueryEngine(db, { cacheBytes: o.config.query.cacheBytes, shareFetches: sharing, ...o.tuning?.query });
  const periods = new PeriodService(db, engine);
  const metrics = new Metrics();
  const app = createApp({
    db,
    ingestor,
    engine,
    periods,
    metrics,
    keys,
    logger: o.logger,
    corsOrigins: o.config.corsOrigins,
    publicMetrics: o.publicMetrics ?? false,
    queryLimits: { maxPageSize: o.config.query.maxPageSize, maxRangeMs: o.config.query.maxRangeMs },
    maxRequestBytes: o.config.maxRequestBytes,
    jobOptions: o.config.jobs.options,
    executionContext: o.executionContext ?? false,
    ...(peers === undefined
      ? {}
      : {
          peer: {
            tokenDigest: await sha256(peers.token),
            shardCount: db.shards.length,
            maxEvents: ingestor.options.maxEventsPerBatch,
            submit: (shard, events, background) => peers.forwarder.received(shard, events, background),
            counters: () => ({ ...peers.forwarder.counters, ...peers.leases.stats }),
          },
        }),
  });
  return {
    db,
    ingestor,
    engine,
    periods,
    metrics,
    app,
    keys,
    jobOptions: o.config.jobs.options,
    ...(peers === undefined ? {} : { peers: { leases: peers.leases, forwarder: peers.forwarder } }),
  };
}

/**
 * One committer per shard among Node processes: leases in the bucket say who; the others forward
 * a shard's validated, hashed events to it. Ingest only: jobs' edits (compaction, rollups, GC) are
 * rare and commit from wherever they run, with If-Match like everything else.
 */
interface Peers {
  readonly leases: ShardLeases;
  readonly forwarder: PeerForwarder;
  readonly token: string;
}

function buildPeers(o: BuildOptions, db: Database, ingestor: () => Ingestor): Peers {
  const p = o.config.peers!;
  const leases = new ShardLeases({
    store: db.store,
    prefix: db.prefix,
    shardCount: db.shards.length,
    clock: o.deps.clock,
    url: p.url,
    holderId: newId(o.deps),
    leaseMs: p.leaseMs,
    onError: (shard, what, err) =>
      o.logger.warn('shard lease: the store failed; committing locally meanwhile', {
        shard,
        step: what,
        error: err instanceof Error ? err.message : String(err),
      }),
  });
  const forwarder = new PeerForwarder({
    leases,
    local: (shard) => ingestor().writer(shard),
    token: p.token,
    timeoutMs: p.timeoutMs,
    logger: o.logger,
    ...(o.peerFetch === undefined ? {} : { fetch: o.peerFetch }),
  });
  o.logger.info('peering on: one process commits each shard, the others forward to it', { peer_url: p.url, lease_ms: p.leaseMs });
  return { leases, forwarder, token: p.token };
}
