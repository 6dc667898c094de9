/** The Hono environment of the app: per-request variables set by middleware. */
import type { Background } from '../lib/background.ts';

export interface AppEnv {
  Variables: {
    /**
     * Where this request's work after the answer goes: the runtime's per-request `waitUntil`
     * when there is one (Workers); absent elsewhere (the services keep their own tracker).
     */
    background: Background | undefined;
    /** Name of the API key that made the request (`anonymous` on an open server). */
    actor: string;
    /** X-Request-Id of this request (honoured from the client or generated). */
    requestId: string;
  };
}
