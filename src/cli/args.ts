/**
 * Argument parsing for the CLI on Node's `util.parseArgs`: the options every command takes (store
 * flags, --json, --help), per-command options, and typed readers for flag values. Every mistake
 * is a CliUsageError (exit 2) that names the flag.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ValidationError } from '../errors.ts';
import { parseTimestamp } from '../query/time-range.ts';
import { CliUsageError, type Context, type Values } from './context.ts';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export const COMMON_OPTIONS: OptionSpec = {
  store: { type: 'string' },
  'data-dir': { type: 'string' },
  prefix: { type: 'string' },
  's3-endpoint': { type: 'string' },
  's3-bucket': { type: 'string' },
  's3-region': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

export const COMMON_HELP = `Store flags (override the environment, see README "Configuration"):
  --store fs|s3        USAGEDB_STORE
  --data-dir DIR       USAGEDB_DATA_DIR (fs store)
  --prefix PREFIX      USAGEDB_PREFIX
  --s3-endpoint URL    USAGEDB_S3_ENDPOINT
  --s3-bucket NAME     USAGEDB_S3_BUCKET
  --s3-region REGION   USAGEDB_S3_REGION
  --json               machine-readable output on stdout
  -h, --help           this help`;

export interface Parsed {
  readonly values: Values;
  readonly positionals: string[];
}

export interface Command {
  readonly name: string;
  readonly summary: string;
  /** Usage lines and the command's own flags (the common ones are appended). */
  readonly help: string;
  readonly options: OptionSpec;
  run(ctx: Context, args: Parsed): Promise<number>;
}

export function parse(argv: readonly string[], options: OptionSpec): Parsed {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: { ...COMMON_OPTIONS, ...options }, allowPositionals: true, strict: true });
    return { values: values as Values, positionals };
  } catch (err) {
    throw new CliUsageError(err instanceof Error ? err.message.split('\n')[0]! : String(err));
  }
}

export function stringFlag(values: Values, name: string): string | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new CliUsageError(`--${name}: needs a value`);
  return v;
}

export function requireFlag(values: Values, name: string, what: string): string {
  const v = stringFlag(values, name);
  if (v === undefined) throw new CliUsageError(`--${name} is required (${what})`);
  return v;
}

/** An RFC 3339 timestamp or a YYYY-MM-DD date (midnight UTC), as ms since the epoch. */
export function timeFlag(values: Values, name: string): number | undefined {
  const v = stringFlag(values, name);
  if (v === undefined) return undefined;
  try {
    return parseTimestamp(v, `--${name}`);
  } catch (err) {
    if (err instanceof ValidationError) throw new CliUsageError(err.message);
    throw err;
  }
}

export function requireTime(values: Values, name: string): number {
  const t = timeFlag(values, name);
  if (t === undefined) throw new CliUsageError(`--${name} is required (RFC 3339 like 2026-01-01T00:00:00Z, or 2026-01-01)`);
  return t;
}

/** A [from, to) range from --from/--to; `required` makes both mandatory. */
export function rangeFlags(values: Values, required: boolean): { from: number | undefined; to: number | undefined } {
  const from = required ? requireTime(values, 'from') : timeFlag(values, 'from');
  const to = required ? requireTime(values, 'to') : timeFlag(values, 'to');
  if (from !== undefined && to !== undefined && from >= to) throw new CliUsageError('--from must be before --to (the range is [from, to))');
  return { from, to };
}

export function intFlag(values: Values, name: string, dflt: number, min: number, max: number): number {
  const v = stringFlag(values, name);
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new CliUsageError(`--${name}: must be an integer from ${min} to ${max}`);
  return Number(v);
}

/** A non-negative integer positional (a generation) or a usage error. */
export function intArg(v: string | undefined, what: string): number {
  if (v === undefined || !/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new CliUsageError(`${what}: must be a non-negative integer`);
  return Number(v);
}

export function noMorePositionals(args: Parsed, expected: number): void {
  if (args.positionals.length > expected) throw new CliUsageError(`unexpected argument "${args.positionals[expected]}"`);
}
