/**
 * The simulated world: 2-4 app instances over one store (memory with a virtual clock and
 * synchronous ETags, so a run replays from its seed — or MinIO for a smaller run), and a fault
 * switchboard that the next operation's store calls consult.
 */
import { AmbiguousWriteError, PreconditionFailedError, TransientStoreError } from '../../src/store/errors.ts';
import { withFaults, type Fault, type StoreCall } from '../../src/store/faulty.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import type { ObjectStore } from '../../src/store/types.ts';
import { hex128, murmur3x86_128 } from '../../src/model/hash.ts';
import { alwaysMaybe } from '../support/filters.ts';
import { openInstance, TestClock, type Instance } from '../support/instance.ts';

/** The dedupe window of every instance and job: short, so compaction writes lean segments and strips hashes. */
export const SIM_WINDOW_MS = 2 * 86_400_000;

/** Virtual time: sleeps advance it instead of waiting, so backoffs cost nothing. */
export class VirtualClock extends TestClock {
  t = Date.UTC(2026, 10, 1);
  override now = (): number => this.t;
  override sleep = async (ms: number): Promise<void> => {
    this.t += Math.max(0, Math.round(ms));
    await Promise.resolve();
  };
  override advance(ms: number): void {
    this.t += ms;
  }
}

export type FaultKind = 'put-fails' | 'get-fails' | 'manifest-412-storm' | 'manifest-answer-lost' | 'manifest-retry-412' | 'slow-store';

export const FAULT_KINDS: readonly FaultKind[] = ['put-fails', 'get-fails', 'manifest-412-storm', 'manifest-answer-lost', 'manifest-retry-412', 'slow-store'];

/** Faults armed for the next operation only. */
export class Switchboard {
  private armed: { kind: FaultKind; remaining: number } | undefined;
  fired = 0;

  arm(kind: FaultKind, times: number): void {
    this.armed = { kind, remaining: times };
  }

  disarm(): void {
    this.armed = undefined;
  }

  readonly inject = (call: StoreCall): Fault | undefined => {
    const a = this.armed;
    if (a === undefined || a.remaining <= 0) return undefined;
    const manifest = call.key.endsWith('current.json');
    let fault: Fault | undefined;
    switch (a.kind) {
      case 'put-fails':
        if (call.op === 'put') fault = { type: 'fail', error: new TransientStoreError('injected: PUT failed') };
        break;
      case 'get-fails':
        if (call.op === 'get') fault = { type: 'fail', error: new TransientStoreError('injected: GET failed') };
        break;
      case 'manifest-412-storm':
        if (call.op === 'put' && manifest && call.put?.ifMatch !== undefined) fault = { type: 'fail', error: new PreconditionFailedError('injected: 412') };
        break;
      case 'manifest-answer-lost':
        if (call.op === 'put' && manifest && call.put?.ifMatch !== undefined)
          fault = { type: 'land-then-fail', error: new AmbiguousWriteError('injected: answer lost') };
        break;
      case 'manifest-retry-412':
        if (call.op === 'put' && manifest && call.put?.ifMatch !== undefined)
          fault = { type: 'land-then-fail', error: new PreconditionFailedError('injected: hidden retry 412') };
        break;
      case 'slow-store':
        fault = { type: 'delay', ms: 50 };
        break;
    }
    if (fault !== undefined) {
      a.remaining--;
      this.fired++;
    }
    return fault;
  };
}

export interface World {
  readonly store: ObjectStore;
  readonly prefix: string;
  readonly clock: VirtualClock;
  readonly faults: Switchboard;
  instances: Instance[];
  restarts: number;
  /** Opens a fresh instance (empty caches) in slot `i`. */
  restart(i: number): Promise<void>;
}

export async function makeWorld(opts: { seed: number; instances: number; base?: ObjectStore; prefix?: string }): Promise<World> {
  const clock = new VirtualClock();
  const faults = new Switchboard();
  const inner = opts.base ?? new MemoryStore({ now: () => clock.now(), etagOf: (b) => hex128(murmur3x86_128(b)) + b.byteLength.toString(16) });
  const store = withFaults(inner, faults.inject, (ms) => clock.sleep(ms));
  const prefix = opts.prefix ?? 'sim';
  const open = (i: number, gen: number) =>
    openInstance(store, prefix, {
      clock,
      seed: opts.seed * 1000 + i * 37 + gen,
      shards: 4,
      buckets: 8,
      ingest: { groupCommitWindowMs: 0, dedupeWindowMs: SIM_WINDOW_MS },
      commitPolicy: { maxAttempts: 64, maxDurationMs: 600_000 },
      // Chunks of 3 unsettled segments: recent parts are written, reused and rewritten all the time.
      parts: { recentChunk: 3 },
    });
  // Odd slots' key filters say "maybe" for everything: their ingest confirms every probe by a page read.
  const openSlot = async (i: number, gen: number) => {
    const inst = await open(i, gen);
    if (i % 2 === 1) for (let shard = 0; shard < 4; shard++) inst.ingestor.writer(shard).cold.loadFilter = alwaysMaybe;
    return inst;
  };
  const world: World = {
    store,
    prefix,
    clock,
    faults,
    instances: [],
    restarts: 0,
    async restart(i) {
      world.restarts++;
      world.instances[i] = await openSlot(i, world.restarts);
    },
  };
  for (let i = 0; i < opts.instances; i++) world.instances.push(await openSlot(i, 0));
  return world;
}
