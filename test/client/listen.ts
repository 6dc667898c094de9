/** Serves a test instance's app over real HTTP on 127.0.0.1 and a free port (@hono/node-server). */
import { serve, type ServerType } from '@hono/node-server';
import type { Instance } from '../support/instance.ts';

export async function listen(inst: Instance): Promise<{ url: string; close: () => Promise<void> }> {
  let server!: ServerType;
  const port = await new Promise<number>((resolve) => {
    server = serve({ fetch: inst.app.fetch, hostname: '127.0.0.1', port: 0 }, (info) => resolve(info.port));
  });
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}
