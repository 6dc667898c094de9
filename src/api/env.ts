/** The Hono environment of the app: per-request variables set by middleware. */
export interface AppEnv {
  Variables: {
    /** Name of the API key that made the request (`anonymous` on an open server). */
    actor: string;
    /** X-Request-Id of this request (honoured from the client or generated). */
    requestId: string;
  };
}
