/**
 * A shard's sequencer on Workers: a Durable Object (one per shard, `USAGEDB_SEQUENCER` in
 * wrangler.toml) that runs the shard's writer for every isolate. Isolates validate and hash, then
 * send the shard's events here; the object keeps the shard's dedupe index warm, writes one
 * segment for everything waiting, commits the manifest with If-Match at most once per
 * USAGEDB_SEQUENCER_INTERVAL_MS (R2 takes about one write a second per key), and answers each
 * caller with its events' outcomes. Jobs' edits for the shard come here too and take their turn.
 *
 * The manifest in the bucket stays the commit point: this object holds no state of its own (no
 * Durable Object storage), and every commit is conditional, so a second instance of the object
 * (after a restart or a network split), a Node server or the CLI on the same bucket stay correct.
 * Inside one object, calls share one writer and its promises: they all belong to the object.
 */
import { DurableObject } from 'cloudflare:workers';
import { errorToWire, ValidationError } from '../errors.ts';
import type { Outcome, PendingEvent } from '../ingest/shard-writer.ts';
import { BackgroundTasks } from '../lib/background.ts';
import type { ManifestEdit } from '../manifest/edits.ts';
import type { SequencedCommit } from '../manifest/manifest-store.ts';
import type { UsageEvent } from '../model/event.ts';
import { HASH_WORDS } from '../segment/raw.ts';
import { boot, once, type Instance } from './boot.ts';
import type { SequencerAnswer, SequencerRpc } from './sequencer-client.ts';
import { configFromEnv, logStartFailure, workerTraits, type Env } from './worker-env.ts';

export class ShardSequencer extends DurableObject<Env> implements SequencerRpc {
  private readonly instance = once(async (env: Env): Promise<Instance> => {
    const traits = workerTraits('sequencer', true, env);
    const config = configFromEnv(env, traits);
    // No startup probe here: the isolates that call this object probed and refuse to forward
    // writes on a store that failed it (services.ts), and the probe rewrites one key, which R2
    // admits about once a second: a restarted object would wait seconds before its first commit.
    return boot(config, traits, { tuning: { ingest: { commitIntervalMs: config.sequencerIntervalMs } }, probe: false });
  });
  /** History copies left after the answers; the object lives on while they run. */
  private readonly background = new BackgroundTasks();

  submit(shard: number, events: readonly UsageEvent[], hashes: Uint32Array): Promise<SequencerAnswer<Outcome[]>> {
    return this.answer(async ({ services }) => {
      checkShard(shard, services.db.shards.length);
      if (!(hashes instanceof Uint32Array) || hashes.length !== events.length * HASH_WORDS) {
        throw new ValidationError(`hashes: ${events.length} events need ${events.length * HASH_WORDS} hash words`, 'hashes');
      }
      const pending: PendingEvent[] = events.map((event, i) => ({ event, hashes, at: i * HASH_WORDS }));
      return services.ingestor.writer(shard).submit(pending, this.background.add);
    });
  }

  commitEdits(shard: number, edits: readonly ManifestEdit[]): Promise<SequencerAnswer<SequencedCommit>> {
    return this.answer(async ({ services }) => {
      checkShard(shard, services.db.shards.length);
      const res = await services.ingestor.writer(shard).commitEdits(edits);
      return { committed: res.committed, attempts: res.attempts, results: res.results, manifest: res.state.manifest, etag: res.state.etag };
    });
  }

  private async answer<T>(work: (instance: Instance) => Promise<T>): Promise<SequencerAnswer<T>> {
    let instance: Instance;
    try {
      instance = await this.instance(this.env);
    } catch (err) {
      logStartFailure(err);
      return { ok: false, error: errorToWire(err) };
    }
    try {
      return { ok: true, value: await work(instance) };
    } catch (err) {
      instance.logger.error('sequencer call failed', { error: err instanceof Error ? err.message : String(err) });
      return { ok: false, error: errorToWire(err) };
    }
  }
}

function checkShard(shard: number, count: number): void {
  if (!Number.isInteger(shard) || shard < 0 || shard >= count)
    throw new ValidationError(`shard: ${shard} is not a shard of this database (0..${count - 1})`, 'shard');
}
