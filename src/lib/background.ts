/**
 * Work a caller starts and does not wait for (e.g. an ingest commit's history copy, written after
 * the answer). Whoever serves the request decides where it goes: on Workers the request's own
 * `ctx.waitUntil`, on Node and Lambda a tracker that shutdown and the invocation wait for. Never
 * a place where one request's work is awaited by another.
 */

/** Takes a task that must be allowed to finish; never rejects back into the caller. */
export type Background = (task: Promise<unknown>) => void;

/** A Background that remembers its tasks until they settle, so they can be waited for. */
export class BackgroundTasks {
  private readonly pending = new Set<Promise<unknown>>();

  readonly add: Background = (task) => {
    const tracked = task.then(
      () => undefined,
      () => undefined,
    );
    this.pending.add(tracked);
    void tracked.then(() => this.pending.delete(tracked));
  };

  get size(): number {
    return this.pending.size;
  }

  /** Waits until every task added so far, and any they added meanwhile, has settled. */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }
}
