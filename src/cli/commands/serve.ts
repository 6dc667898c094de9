/**
 * `usagedb serve`: starts the Node server (src/runtime/node.ts) with the store flags applied to
 * the environment. Where Node can replace the running process (`process.execve`, Node >= 23.11 on
 * Linux and macOS) it re-executes node on the server's entry with the server's node flags and
 * allocator environment (runtime/node-settings.ts), so it runs exactly like `npm start` and the
 * container — same process id, signals go straight to the server. Elsewhere it starts the server
 * in this process, without them. It runs until SIGINT/SIGTERM, which the server handles.
 */
import { fileURLToPath } from 'node:url';
import { SERVER_ENV, SERVER_NODE_FLAGS } from '../../runtime/node-settings.ts';
import { noMorePositionals, type Command } from '../args.ts';
import type { Context } from '../context.ts';

type Execve = (file: string, args: readonly string[], env: Record<string, string>) => never;

export const serveCommand: Command = {
  name: 'serve',
  summary: 'start the HTTP server (same as npm start)',
  help: `usagedb serve

  Starts the API server with the configuration from the environment (HOST, PORT, USAGEDB_*),
  the store flags overriding it, and npm start's node flags and allocator settings (where Node
  has process.execve: Node >= 23.11 on Linux/macOS). Stops on SIGINT/SIGTERM after in-flight
  commits finish.`,
  options: {},
  async run(ctx: Context, args) {
    noMorePositionals(args, 0);
    ctx.config(); // a bad configuration is exit 3 here, before the server starts
    for (const [k, v] of Object.entries(ctx.env)) if (v !== undefined) process.env[k] = v;
    const execve = (process as unknown as { execve?: Execve }).execve;
    if (typeof execve === 'function') {
      // The server's entry beside this module's tree: sources in a checkout, the build when installed.
      const entry = fileURLToPath(new URL(`../../runtime/node${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));
      const env: Record<string, string> = { ...SERVER_ENV };
      // The caller's own environment wins, allocator settings included.
      for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
      // The caller's node flags after ours, so theirs win too.
      execve.call(process, process.execPath, [process.execPath, ...SERVER_NODE_FLAGS, ...process.execArgv, entry], env);
    }
    await import('../../runtime/node.ts');
    // The server now owns the process and exits it on a signal.
    return new Promise<number>(() => undefined);
  },
};
