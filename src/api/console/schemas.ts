/**
 * zod schemas of the three small JSON routes the console needs (`api-routes.ts`): who a key is,
 * the database status (the JSON twin of /metrics plus what the manifests say), and every stored
 * row of one event id. The OpenAPI operations in `openapi-ops.ts` are generated from them.
 */
import { z } from 'zod';
import { auditRow } from '../schemas.ts';
import { SCOPES } from '../auth.ts';

const count = z.number().int().nonnegative();
const isoOrNull = z.string().nullable().describe('RFC 3339 timestamp in UTC, or null when it never happened.');

export const whoamiResponse = z
  .object({
    name: z.string().describe('The API key name (`anonymous` on an open server).'),
    scopes: z.array(z.enum(SCOPES)).describe('What the key may do; admin implies every scope, so it is listed with all of them.'),
    open: z.boolean().describe('The server runs without API keys (loopback only): every route answers without a key.'),
  })
  .describe('The identity and effective scopes of the API key the request carries.');

const shardOk = z.object({
  shard: count,
  generation: count.describe('Manifest generation (commits so far).'),
  updated_at: z.string().describe('When the manifest was last committed.'),
  raw_segments: count.describe('Live raw segments.'),
  uncompacted_segments: count.describe('Raw segments compaction has not merged yet (ingest output).'),
  unrolled_segments: count.describe('Compacted raw segments the rollup job has not processed yet (neither rolled up nor marked sparse).'),
  raw_rows: count.describe('Rows in the live raw segments.'),
  rollup_segments: count,
  replacements: count.describe('Replaced objects still readable during their grace period (GC expires them).'),
  periods_closed: count.describe('Billing periods currently closed (or closing).'),
  conflicts: count.describe('Conflict records (same event_id, different payload).'),
  manifest_bytes: count.describe(
    'Size of the whole manifest as JSON: current.json plus the settled months it keeps in immutable parts (a commit rewrites current.json and the parts that changed).',
  ),
  last_compaction_at: isoOrNull,
  last_rollup_at: isoOrNull,
  commits: count.describe('Commits by this instance since it started.'),
  commit_retries: count.describe('Commit attempts of this instance that lost a race and re-ran.'),
  contention_errors: count.describe('Commits of this instance that gave up (manifest_contention).'),
  ambiguous_writes: count.describe('Manifest PUTs of this instance whose outcome was decided by read-back.'),
});

const shardFailed = z.object({
  shard: count,
  error: z.string().describe('Why the manifest could not be read (the shard refuses writes until it is restored).'),
});

export const adminStatus = z
  .object({
    now: z.string(),
    now_ms: z.number().int().describe('Server clock; the console divides counter deltas by its deltas to get rates.'),
    database: z.object({ db_id: z.string(), shards: count, buckets: count, store: z.string().describe('s3, fs or memory.') }),
    totals: z
      .object({
        generation: count.describe('Sum of the shard generations: grows by one per commit anywhere.'),
        raw_segments: count,
        uncompacted_segments: count,
        unrolled_segments: count,
        raw_rows: count,
        rollup_segments: count,
        replacements: count,
        periods_closed: count,
        conflicts: count,
        manifest_bytes: count,
        commits: count,
        commit_retries: count,
        contention_errors: count,
        ambiguous_writes: count,
        last_compaction_at: isoOrNull.describe('Latest compaction watermark over all shards.'),
        last_rollup_at: isoOrNull.describe('Latest rollup watermark over all shards.'),
      })
      .describe('Sums over the shards that answered.'),
    shards: z.array(z.union([shardOk, shardFailed])),
    requests: z
      .array(z.object({ method: z.string(), route: z.string(), status: z.number().int(), count }))
      .describe('HTTP requests this instance answered, by route pattern and status (usagedb_http_requests_total).'),
    cache: z
      .object({
        hits: count,
        misses: count,
        bytes: count,
        entries: count,
        hit_rate: z.number().min(0).max(1).nullable().describe('hits / (hits + misses); null before the first lookup.'),
      })
      .describe("This instance's segment cache."),
    jobs: z
      .array(z.object({ job: z.string(), outcome: z.string(), runs: count, last_run_at: isoOrNull }))
      .describe(
        'Job runs of this instance by outcome, with the end of the last one (GC keeps no watermark in the manifests, so this is where its last run shows).',
      ),
  })
  .describe('What the manifests say about every shard, and the counters of /metrics, as JSON.');

export const eventRows = z
  .object({
    account_id: z.string(),
    event_id: z.string(),
    generation: count.describe("Manifest generation of the account's shard the rows were read from."),
    rows: z
      .array(auditRow.extend({ quarantined: z.boolean().describe('A later copy of a conflict, held out of every total until resolved.') }))
      .describe('Every stored row with this event_id: one normally, two or more for a conflict (different payloads); quarantined copies included.'),
  })
  .describe('The stored rows of one event id of an account.');

export type WhoamiResponse = z.infer<typeof whoamiResponse>;
export type AdminStatus = z.infer<typeof adminStatus>;
export type EventRows = z.infer<typeof eventRows>;
