/**
 * A few assertions with no dependency at all, so that test code runs unchanged under vitest in
 * Node and inside workerd (where vitest's `expect` is not available): the store conformance
 * cases use them. A failure throws an Error whose message shows what was expected and what came.
 */

function show(value: unknown): string {
  try {
    return (
      JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? `Uint8Array(${v.byteLength})` : v)) ??
      String(value)
    );
  } catch {
    return String(value);
  }
}

function fail(message: string, what?: string): never {
  throw new Error(what === undefined ? message : `${what}: ${message}`);
}

/** Structural equality: same primitives (Object.is), same arrays, same own keys with equal values, equal Dates. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

export const check = {
  /** `actual === expected` (Object.is). */
  is(actual: unknown, expected: unknown, what?: string): void {
    if (!Object.is(actual, expected)) fail(`expected ${show(expected)}, got ${show(actual)}`, what);
  },
  not(actual: unknown, unexpected: unknown, what?: string): void {
    if (Object.is(actual, unexpected)) fail(`expected anything but ${show(unexpected)}`, what);
  },
  equal(actual: unknown, expected: unknown, what?: string): void {
    if (!deepEqual(actual, expected)) fail(`expected ${show(expected)}, got ${show(actual)}`, what);
  },
  ok(condition: boolean, what: string): void {
    if (!condition) fail('expected to hold, did not', what);
  },
  matches(actual: string, pattern: RegExp, what?: string): void {
    if (!pattern.test(actual)) fail(`expected ${show(actual)} to match ${pattern}`, what);
  },
  /** Awaits `promise` and returns what it rejected with; fails if it resolved. */
  async rejects(promise: Promise<unknown>, what?: string): Promise<unknown> {
    let value: unknown;
    try {
      value = await promise;
    } catch (err) {
      return err;
    }
    return fail(`expected a rejection, resolved with ${show(value)}`, what);
  },
  /** Awaits `promise` and fails unless it rejected with an instance of `type`. */
  async rejectsWith(promise: Promise<unknown>, type: abstract new (...args: never[]) => unknown, what?: string): Promise<unknown> {
    const err = await check.rejects(promise, what);
    if (!(err instanceof type))
      fail(`expected a ${type.name}, rejected with ${err instanceof Error ? `${err.constructor.name}: ${err.message}` : show(err)}`, what);
    return err;
  },
};
