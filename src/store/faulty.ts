/**
 * A wrapper that injects faults into any ObjectStore: fail before the call, let a write land and
 * then lose its answer (or answer 412 as a hidden SDK retry would), or delay. Tests and the
 * simulation decide per call through a `FaultInjector`; `FaultPlan` is a simple queued one.
 */
import type { GetOptions, GetResult, ListOptions, ListPage, ObjectInfo, ObjectStore, PutOptions } from './types.ts';

export type StoreOp = 'get' | 'put' | 'head' | 'delete' | 'list';

export interface StoreCall {
  readonly op: StoreOp;
  readonly key: string;
  readonly put?: PutOptions;
  readonly get?: GetOptions;
}

export type Fault =
  /** Throw without calling the store. */
  | { readonly type: 'fail'; readonly error: Error }
  /** Call the store (the write lands), then throw instead of answering. */
  | { readonly type: 'land-then-fail'; readonly error: Error }
  /** Wait, then call the store. */
  | { readonly type: 'delay'; readonly ms: number };

export type FaultInjector = (call: StoreCall) => Fault | undefined;

export function withFaults(
  inner: ObjectStore,
  inject: FaultInjector,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): ObjectStore {
  async function run<T>(call: StoreCall, fn: () => Promise<T>): Promise<T> {
    const fault = inject(call);
    if (fault === undefined) return fn();
    switch (fault.type) {
      case 'fail':
        throw fault.error;
      case 'land-then-fail':
        await fn();
        throw fault.error;
      case 'delay':
        await sleep(fault.ms);
        return fn();
    }
  }
  return {
    kind: inner.kind,
    get: (key: string, opts?: GetOptions): Promise<GetResult | null> => run({ op: 'get', key, get: opts ?? {} }, () => inner.get(key, opts)),
    put: (key: string, body: Uint8Array, opts?: PutOptions): Promise<{ etag: string }> =>
      run({ op: 'put', key, put: opts ?? {} }, () => inner.put(key, body, opts)),
    head: (key: string): Promise<ObjectInfo | null> => run({ op: 'head', key }, () => inner.head(key)),
    delete: (key: string): Promise<void> => run({ op: 'delete', key }, () => inner.delete(key)),
    list: (prefix: string, opts?: ListOptions): Promise<ListPage> => run({ op: 'list', key: prefix }, () => inner.list(prefix, opts)),
  };
}

interface PlannedFault {
  readonly op: StoreOp;
  readonly match: (key: string) => boolean;
  readonly fault: Fault;
  readonly when: () => boolean;
  remaining: number;
}

/** Faults queued by test code: the first matching entry fires, `times` times. */
export class FaultPlan {
  private readonly planned: PlannedFault[] = [];
  /** Calls seen, for assertions ("the cache was published only after the PUT"). */
  readonly calls: StoreCall[] = [];
  /** Faults that fired, in order. */
  readonly fired: { readonly call: StoreCall; readonly fault: Fault }[] = [];

  /**
   * Queues a fault for the next `times` calls of `op` whose key matches (a string matches as a
   * key suffix), optionally only while `when()` holds.
   */
  add(op: StoreOp, match: string | RegExp | ((key: string) => boolean), fault: Fault, times = 1, when: () => boolean = () => true): this {
    const fn = typeof match === 'string' ? (k: string) => k.endsWith(match) : match instanceof RegExp ? (k: string) => match.test(k) : match;
    this.planned.push({ op, match: fn, fault, remaining: times, when });
    return this;
  }

  clear(): void {
    this.planned.length = 0;
  }

  readonly injector: FaultInjector = (call) => {
    this.calls.push(call);
    const p = this.planned.find((f) => f.op === call.op && f.remaining > 0 && f.match(call.key) && f.when());
    if (p === undefined) return undefined;
    p.remaining--;
    this.fired.push({ call, fault: p.fault });
    return p.fault;
  };
}
