/**
 * The isolate's side of the shard sequencers (one Durable Object per shard, see sequencer.ts):
 * ingest sends each shard's validated, hashed events to the shard's object, and jobs' edits go
 * there too, so that one writer commits each shard manifest at the pace the store allows.
 * Answers cross the RPC boundary as data; errors come back typed (ForwardedError with the
 * sequencer's code and kind). A call that fails in transport (the object was reset or evicted,
 * or did not answer) may have committed, so it is `commit_outcome_unknown`: the client retries
 * the same request and dedupe answers what did commit.
 */
import { CommitOutcomeUnknownError, ForwardedError, type ErrorWire } from '../errors.ts';
import type { RemoteShards } from '../ingest/ingestor.ts';
import { hashWords } from '../ingest/pending.ts';
import type { Outcome } from '../ingest/shard-writer.ts';
import type { ManifestEdit } from '../manifest/edits.ts';
import type { SequencedCommit, Sequencer } from '../manifest/manifest-store.ts';
import type { UsageEvent } from '../model/event.ts';

export type SequencerAnswer<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ErrorWire };

/** The RPC methods of a shard's sequencer (what ShardSequencer implements). */
export interface SequencerRpc {
  /** Classifies, writes and commits `events` (hashes: HASH_WORDS words each, in order); their outcomes. */
  submit(shard: number, events: readonly UsageEvent[], hashes: Uint32Array): Promise<SequencerAnswer<Outcome[]>>;
  /** Commits edits given as data in turn with ingest. */
  commitEdits(shard: number, edits: readonly ManifestEdit[]): Promise<SequencerAnswer<SequencedCommit>>;
}

/** The Durable Object namespace binding, as far as it is used here. */
export interface SequencerNamespace {
  idFromName(name: string): unknown;
  get(id: never): SequencerRpc;
}

export function isSequencerNamespace(binding: unknown): binding is SequencerNamespace {
  const b = binding as Partial<SequencerNamespace> | null;
  return typeof b === 'object' && b !== null && typeof b.idFromName === 'function' && typeof b.get === 'function';
}

/** The object of one shard of the database under `prefix`. */
export function sequencerName(prefix: string, shard: number): string {
  return `${prefix}#shard-${shard}`;
}

export interface Sequencers {
  readonly ingest: RemoteShards;
  readonly edits: (shard: number) => Sequencer;
}

export function sequencersOf(ns: SequencerNamespace, prefix: string): Sequencers {
  // A stub per call: a stub is an I/O object of the request that made it (see worker.ts).
  const stub = (shard: number): SequencerRpc => ns.get(ns.idFromName(sequencerName(prefix, shard)) as never);
  return {
    ingest: (shard) => ({
      submit: async (events) =>
        answered(
          shard,
          await reached(shard, () =>
            stub(shard).submit(
              shard,
              events.map((p) => p.event),
              hashWords(events),
            ),
          ),
        ),
    }),
    edits: (shard) => async (edits) => answered(shard, await reached(shard, () => stub(shard).commitEdits(shard, edits))),
  };
}

async function reached<T>(shard: number, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw new CommitOutcomeUnknownError(
      `shard ${shard}: its sequencer did not answer (${err instanceof Error ? err.message : String(err)}); what it was sent may or may not be committed`,
      {
        cause: err,
        retryAfterSeconds: 1,
      },
    );
  }
}

function answered<T>(shard: number, a: SequencerAnswer<T>): T {
  if (a.ok) return a.value;
  throw new ForwardedError({ ...a.error, message: `shard ${shard} sequencer: ${a.error.message}` });
}
