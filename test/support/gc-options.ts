import type { GcOptions } from '../../src/compact/gc.ts';

/**
 * GC options for tests that delete at once: no safety age, and the restore window counted in
 * generations only (no time bound); `overrides` set the rest.
 */
export function gcNow(overrides: Partial<GcOptions> = {}): GcOptions {
  return { safetyAgeMs: 0, historyKeep: 50, historyKeepMs: Number.POSITIVE_INFINITY, maxDeletes: 100, dryRun: false, ...overrides };
}
