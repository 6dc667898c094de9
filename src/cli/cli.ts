/**
 * `runCli(argv, io)`: dispatches `usagedb <command> [flags]` and maps every outcome to the
 * documented exit codes (README error table): 0 ok; 1 problems found (check, verify-period), a
 * missing segment or generation, or a failed job/export; 2 usage error; 3 store, configuration or
 * damaged-database error. A typed error's exit code follows from its kind (`exitCodeOf`).
 */
import { isUsageDbError, NotFoundError, ValidationError, type ErrorKind } from '../errors.ts';
import { COMMON_HELP, parse, type Command } from './args.ts';
import { checkCommand } from './commands/check.ts';
import { exportNdjsonCommand, exportParquetCommand } from './commands/export.ts';
import { inspectSegmentCommand } from './commands/inspect-segment.ts';
import { jobsCommand } from './commands/jobs.ts';
import { manifestCommand } from './commands/manifest.ts';
import { rebuildRollupsCommand } from './commands/rebuild-rollups.ts';
import { serveCommand } from './commands/serve.ts';
import { verifyPeriodCommand } from './commands/verify-period.ts';
import { CliConfigError, CliUsageError, Context, EXIT, type CliIo } from './context.ts';

export type { CliIo, CliStream } from './context.ts';
export { EXIT } from './context.ts';

export const COMMANDS: readonly Command[] = [
  serveCommand,
  checkCommand,
  inspectSegmentCommand,
  verifyPeriodCommand,
  rebuildRollupsCommand,
  jobsCommand,
  manifestCommand,
  exportParquetCommand,
  exportNdjsonCommand,
];

export function usage(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'usage: usagedb <command> [flags]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    COMMON_HELP,
    '',
    'Exit codes: 0 ok; 1 problems found (check, verify-period) or the operation failed;',
    '2 usage error; 3 store, configuration or damaged-database error. `usagedb <command> --help` for a command.',
  ].join('\n');
}

const KIND_EXIT = { user: EXIT.problems, retryable: EXIT.store, outcome_unknown: EXIT.store, fatal: EXIT.store } as const satisfies Record<ErrorKind, number>;

/**
 * The exit code an error maps to, from its kind: the caller's mistake (`user`: not found, invalid
 * input) is 1 like any failed operation; the store or the database being unavailable, contended,
 * of unknown outcome or damaged (`retryable`, `outcome_unknown`, `fatal`) is 3, as is a bad
 * configuration (a USAGEDB_* variable); a bad command line is 2; anything untyped 1.
 */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CliUsageError) return EXIT.usage;
  if (err instanceof CliConfigError) return EXIT.store;
  if (err instanceof ValidationError && err.field?.startsWith('USAGEDB_')) return EXIT.store;
  if (!isUsageDbError(err)) return EXIT.problems;
  return KIND_EXIT[err.kind];
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.stderr : io.stdout).write(`${usage()}\n`);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (cmd === undefined) {
    io.stderr.write(`usagedb: unknown command "${name}"\n\n${usage()}\n`);
    return EXIT.usage;
  }
  try {
    const args = parse(rest, cmd.options);
    if (args.values.help === true) {
      io.stdout.write(`${cmd.help}\n\n${COMMON_HELP}\n`);
      return EXIT.ok;
    }
    return await cmd.run(new Context(io, args.values), args);
  } catch (err) {
    const code = exitCodeOf(err);
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(`usagedb ${name}: ${code === EXIT.store ? 'store/config error: ' : code === EXIT.usage ? '' : 'error: '}${message}\n`);
    if (code === EXIT.usage) io.stderr.write(`(usagedb ${name} --help for usage)\n`);
    if (code === EXIT.problems && !(err instanceof NotFoundError) && io.env.USAGEDB_LOG_LEVEL === 'debug' && err instanceof Error && err.stack !== undefined) {
      io.stderr.write(`${err.stack}\n`);
    }
    return code;
  }
}
