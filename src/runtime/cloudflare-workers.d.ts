/**
 * The part of the Workers runtime module `cloudflare:workers` this project uses (Durable Objects
 * with RPC). Declared here because @cloudflare/workers-types redeclares Request, Response and
 * fetch, which clashes with @types/node in this project's one tsconfig. wrangler bundles the
 * import as an external of the runtime.
 */
declare module 'cloudflare:workers' {
  export interface DurableObjectState {
    /** Resets the object: in-flight calls fail, the next call builds a new instance. */
    abort(reason?: string): void;
    waitUntil(promise: Promise<unknown>): void;
  }

  export abstract class DurableObject<Env = unknown> {
    protected readonly ctx: DurableObjectState;
    protected readonly env: Env;
    constructor(ctx: DurableObjectState, env: Env);
  }
}
