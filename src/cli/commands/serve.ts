/**
 * `usagedb serve`: starts the Node server (src/runtime/node.ts) in this process with the store
 * flags applied to the environment. It runs until SIGINT/SIGTERM, which the server handles.
 */
import { noMorePositionals, type Command } from '../args.ts';
import type { Context } from '../context.ts';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'start the HTTP server (same as npm start)',
  help: `usagedb serve

  Starts the API server with the configuration from the environment (HOST, PORT, USAGEDB_*),
  the store flags overriding it. Stops on SIGINT/SIGTERM after in-flight commits finish.`,
  options: {},
  async run(ctx: Context, args) {
    noMorePositionals(args, 0);
    ctx.config(); // a bad configuration is exit 3 here, before the server starts
    for (const [k, v] of Object.entries(ctx.env)) if (v !== undefined) process.env[k] = v;
    await import('../../runtime/node.ts');
    // The server now owns the process and exits it on a signal.
    return new Promise<number>(() => undefined);
  },
};
