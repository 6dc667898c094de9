/** Command line of `npm run bench:http -- [flags]`. */

export const GROUPS = ['ref', 'fs', 'minio', 'multi', 'worker'] as const;
export type Group = (typeof GROUPS)[number];

export interface Shape {
  readonly batch: number;
  readonly concurrency: number;
}

export interface Options {
  readonly only: ReadonlySet<Group>;
  readonly shapes: readonly Shape[] | undefined;
  /** Events per scenario; undefined: each shape's default (about 5-10 s of our MinIO path here). */
  readonly events: number | undefined;
  readonly reps: number;
  readonly warmup: number;
  readonly seed: number;
  readonly processes: readonly number[];
  readonly sample: number;
  readonly logLevel: string;
  readonly cpuProfDir: string | undefined;
  /** Extra environment of our servers (Node and Worker), e.g. USAGEDB_SHARDS=1. */
  readonly serverEnv: Readonly<Record<string, string>>;
  readonly referenceBin: string | undefined;
  /** Worker group: which paths run (direct: without the sequencers' binding; sequencers: with it). */
  readonly workerPaths: readonly ('direct' | 'sequencers')[];
  /** Multi group: whether the processes peer (USAGEDB_PEER_URL: one committer per shard) or each commits directly. */
  readonly peers: boolean;
  /** Results file name (test/bench/results/<out>.json); undefined: http, or http-<groups> for a partial run. */
  readonly out: string | undefined;
}

export const HELP = `npm run bench:http -- [flags]

  --only fs,minio,multi,worker,ref   groups to run (default: all; ref needs USAGEDB_REFERENCE_BIN)
  --scenarios 10x32,100x8,1000x8     batch x concurrency shapes (default: all of a group's)
  --events N                         events per scenario (default: per shape, ~5-10 s each here)
  --reps N                           repetitions, interleaved (default 3)
  --warmup F                         share of each run's batches sent first, untimed (default 0.2; 0: none)
  --seed N                           workload seed (default 1)
  --processes 1,2,4                  server processes of the multi group (default 1,2,4)
  --sample N                         account-months checked per scenario (default 24)
  --log-level L                      our servers' USAGEDB_LOG_LEVEL (default warn: no access log)
  --cpu-prof DIR                     V8 CPU profiles of our server processes into DIR/<server>-<ms>/ (one per thread)
  --server-env K=V,K=V               extra environment of our servers, Node and Worker (e.g. USAGEDB_SHARDS=1)
  --worker-paths direct,sequencers   Worker group: which paths run (default both)
  --peers on|off                     multi group: processes peer (USAGEDB_PEER_URL, one committer per
                                     shard; default on) or each commits directly (off: the old path)
  --out NAME                         results file test/bench/results/NAME.json (default: http, or
                                     http-<groups> for a partial run)

Env: USAGEDB_REFERENCE_BIN=path of the Rust reference (../shared/tools/build-reference.sh prints it).`;

function positiveInt(name: string, v: string | undefined): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < 1) throw new Error(`--${name}: expected a positive integer, got ${v ?? 'nothing'}`);
  return n;
}

export function parseShape(s: string): Shape {
  const m = /^(\d+)x(\d+)$/.exec(s.trim().replace(/[,_]/g, ''));
  if (m === null) throw new Error(`--scenarios: "${s}" is not <batch>x<concurrency>, e.g. 100x8`);
  return { batch: Number(m[1]), concurrency: Number(m[2]) };
}

const list = (v: string | undefined, name: string) => {
  if (v === undefined || v === '') throw new Error(`--${name}: expected a comma-separated list`);
  return v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
};

export function parseArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Options | 'help' {
  let only: Set<Group> | undefined;
  let shapes: Shape[] | undefined;
  let events: number | undefined;
  let reps = 3;
  let warmup = 0.2;
  let seed = 1;
  let processes = [1, 2, 4];
  let sample = 24;
  let logLevel = 'warn';
  let cpuProfDir: string | undefined;
  const serverEnv: Record<string, string> = {};
  let out: string | undefined;
  let workerPaths: ('direct' | 'sequencers')[] = ['direct', 'sequencers'];
  let peers = true;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--help':
      case '-h':
        return 'help';
      case '--only':
        only = new Set(
          list(value(), 'only').map((g) => {
            if (!(GROUPS as readonly string[]).includes(g)) throw new Error(`--only: unknown group "${g}"; groups: ${GROUPS.join(', ')}`);
            return g as Group;
          }),
        );
        break;
      case '--scenarios':
        shapes = list(value(), 'scenarios').map(parseShape);
        break;
      case '--events':
        events = positiveInt('events', value());
        break;
      case '--reps':
        reps = positiveInt('reps', value());
        break;
      case '--warmup': {
        const v = value() ?? '';
        warmup = Number(v);
        if (!/^\d*\.?\d+$/.test(v) || warmup > 0.9) throw new Error(`--warmup: a share from 0 to 0.9, got ${JSON.stringify(v)}`);
        break;
      }
      case '--seed':
        seed = positiveInt('seed', value());
        break;
      case '--processes':
        processes = list(value(), 'processes').map((p) => positiveInt('processes', p));
        break;
      case '--sample':
        sample = positiveInt('sample', value());
        break;
      case '--log-level':
        logLevel = value() ?? 'warn';
        break;
      case '--server-env':
        for (const kv of list(value(), 'server-env')) {
          const eq = kv.indexOf('=');
          if (eq < 1) throw new Error(`--server-env: "${kv}" is not NAME=value`);
          serverEnv[kv.slice(0, eq)] = kv.slice(eq + 1);
        }
        break;
      case '--worker-paths':
        workerPaths = list(value(), 'worker-paths').map((p) => {
          if (p !== 'direct' && p !== 'sequencers') throw new Error(`--worker-paths: unknown path "${p}"; paths: direct, sequencers`);
          return p;
        });
        break;
      case '--peers': {
        const v = value();
        if (v !== 'on' && v !== 'off') throw new Error(`--peers: expected on or off, got ${v ?? 'nothing'}`);
        peers = v === 'on';
        break;
      }
      case '--out':
        out = value();
        if (out === undefined || !/^[\w.-]+$/.test(out)) throw new Error('--out: expected a file name (letters, digits, - . _)');
        break;
      case '--cpu-prof':
        cpuProfDir = value();
        if (cpuProfDir === undefined || cpuProfDir === '') throw new Error('--cpu-prof: expected a directory');
        break;
      default:
        throw new Error(`unknown flag ${flag}\n\n${HELP}`);
    }
  }
  const referenceBin = env.USAGEDB_REFERENCE_BIN === '' ? undefined : env.USAGEDB_REFERENCE_BIN;
  const groups = only ?? new Set(GROUPS);
  if (referenceBin === undefined) {
    if (only?.has('ref') === true)
      throw new Error('--only ref: set USAGEDB_REFERENCE_BIN to the reference binary (../shared/tools/build-reference.sh prints its path)');
    groups.delete('ref');
  }
  return { only: groups, shapes, events, reps, warmup, seed, processes, sample, logLevel, cpuProfDir, serverEnv, referenceBin, out, workerPaths, peers };
}
