/** Ingest limits and tuning, with the defaults the README documents. */
import { DAY_MS } from '../model/time.ts';

export interface IngestOptions {
  /** Largest request body accepted by POST /v1/usage/batch (413 above). */
  readonly maxBodyBytes: number;
  /** Most events in one batch (413 above). */
  readonly maxEventsPerBatch: number;
  /** Dedupe window on `ingested_at_ms`. */
  readonly dedupeWindowMs: number;
  /** How long a shard waits to gather concurrent requests into one segment and one commit. */
  readonly groupCommitWindowMs: number;
  /** Parallel hashes fetches (ranged GETs) when warming the dedupe index. */
  readonly hashLoadConcurrency: number;
  /**
   * Whether concurrent requests share one segment and commit per shard (group commit). Workers
   * turn it off: there one request must never settle another's promise; each commits alone.
   */
  readonly groupCommit: boolean;
  /**
   * Least time from one commit of a shard writer returning to its next starting (0: none), so
   * two manifest writes are always further apart than this. A shard's sequencer on R2 commits
   * about once a second: R2 takes about one write a second per key.
   */
  readonly commitIntervalMs: number;
  /**
   * Under load, the most a flush waits for the requests the previous flush's answers bring back
   * (0: never waits). See ShardWriter.gather: only when the previous flush carried several
   * requests, never longer than the previous flush took.
   */
  readonly gatherMaxMs: number;
}

export const DEFAULT_INGEST_OPTIONS: IngestOptions = {
  maxBodyBytes: 8 * 1024 * 1024,
  maxEventsPerBatch: 10_000,
  dedupeWindowMs: 35 * DAY_MS,
  // Never idle-wait: a flush starts at once and everything arriving meanwhile joins the next one.
  groupCommitWindowMs: 0,
  hashLoadConcurrency: 8,
  groupCommit: true,
  commitIntervalMs: 0,
  gatherMaxMs: 30,
};
