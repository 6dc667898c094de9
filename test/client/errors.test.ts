/** Error mapping (code first, then status), Retry-After parsing and the backoff arithmetic. */
import { describe, expect, it } from 'vitest';
import { errorFromAnswer } from '../../src/client/errors.ts';
import { backoffMs, DEFAULT_RETRY, retryDelay, retryPolicy } from '../../src/client/retry.ts';
import {
  BadGatewayError,
  BadRequestError,
  ERROR_CLASSES_BY_CODE,
  ForbiddenError,
  NotFoundError,
  parseRetryAfter,
  PayloadTooLargeError,
  RateLimitedError,
  ServerError,
  UnauthorizedError,
  UnavailableError,
  UsageDbError,
} from '../../src/client/index.ts';

const body = (code: string, message = `${code} message`, details?: Record<string, unknown>) => ({ error: { code, message, ...(details ? { details } : {}) } });

describe('errorFromAnswer', () => {
  it.each([
    [400, 'invalid_request', BadRequestError, false],
    [401, 'unauthorized', UnauthorizedError, false],
    [403, 'forbidden', ForbiddenError, false],
    [404, 'not_found', NotFoundError, false],
    [413, 'payload_too_large', PayloadTooLargeError, false],
    [500, 'internal', ServerError, false],
    [500, 'segment_corrupt', ServerError, false],
    [500, 'misconfigured', ServerError, false],
    [500, 'store_refused', ServerError, false],
    [500, 'manifest_corrupt', ServerError, false],
    [500, 'unsupported_format', ServerError, false],
    [500, 'store_unsafe', ServerError, false],
    [503, 'manifest_contention', UnavailableError, true],
    [503, 'commit_outcome_unknown', UnavailableError, true],
    [503, 'store_unavailable', UnavailableError, true],
  ] as const)('%i %s → %s', (status, code, Class, retryable) => {
    const err = errorFromAnswer(status, body(code, 'from: is required', { field: 'from' }), 'req-1', status === 503 ? 1000 : undefined);
    expect(err).toBeInstanceOf(Class);
    expect(err).toBeInstanceOf(UsageDbError);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ code, status, message: 'from: is required', details: { field: 'from' }, requestId: 'req-1', retryable, name: Class.name });
    expect(ERROR_CLASSES_BY_CODE[code]).toBe(Class);
  });

  it('falls back on the status for unknown codes and bodies that are not ours', () => {
    expect(errorFromAnswer(503, body('brand_new_code'), undefined, undefined)).toBeInstanceOf(UnavailableError);
    expect(errorFromAnswer(429, undefined, undefined, 2000)).toMatchObject({ code: 'http_429', retryable: true, retryAfterMs: 2000 });
    expect(errorFromAnswer(429, undefined, undefined, 2000)).toBeInstanceOf(RateLimitedError);
    expect(errorFromAnswer(418, '<html>', undefined, undefined)).toBeInstanceOf(BadRequestError);
    expect(errorFromAnswer(501, null, undefined, undefined)).toBeInstanceOf(ServerError);
    // A retryable status stays retryable even if a proxy reuses a non-retryable code.
    expect(errorFromAnswer(503, body('invalid_request'), undefined, undefined)).toBeInstanceOf(UnavailableError);
    expect(errorFromAnswer(502, body('store_refused'), undefined, undefined)).toMatchObject({ retryable: true });
    expect(errorFromAnswer(502, body('store_refused'), undefined, undefined)).toBeInstanceOf(BadGatewayError);
    // Inherited property names are not codes.
    expect(errorFromAnswer(400, body('constructor'), undefined, undefined)).toBeInstanceOf(BadRequestError);
    expect(errorFromAnswer(400, body('__proto__'), undefined, undefined)).toBeInstanceOf(BadRequestError);
  });
});

describe('Retry-After', () => {
  const now = Date.UTC(2026, 0, 1);
  it('parses delta-seconds and HTTP dates', () => {
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('1.5', now)).toBe(1500);
    expect(parseRetryAfter(new Date(now + 4000).toUTCString(), now)).toBe(4000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
  });
});

describe('backoff', () => {
  it('full jitter under a doubling cap', () => {
    const p = retryPolicy({ baseDelayMs: 100, maxDelayMs: 1000 });
    expect([1, 2, 3, 4, 5, 6].map((r) => backoffMs(r, p, () => 0.9999))).toEqual([99, 199, 399, 799, 999, 999]);
    expect(backoffMs(3, p, () => 0)).toBe(0);
  });

  it('retries only retryable errors, within attempts, Retry-After first', () => {
    const p = retryPolicy({ attempts: 3, baseDelayMs: 100 });
    const unavailable = errorFromAnswer(503, body('store_unavailable'), undefined, 2000);
    expect(retryDelay(unavailable, 1, p, () => 0.5)).toBe(2050);
    expect(retryDelay(unavailable, 3, p, () => 0.5)).toBeUndefined();
    expect(retryDelay(errorFromAnswer(400, body('invalid_request'), undefined, undefined), 1, p, () => 0.5)).toBeUndefined();
    expect(retryDelay(new TypeError('not ours'), 1, p, () => 0.5)).toBeUndefined();
    expect(() => retryPolicy({ attempts: 0 })).toThrow(RangeError);
    expect(DEFAULT_RETRY).toEqual({ attempts: 5, baseDelayMs: 200, maxDelayMs: 10_000, maxRetryAfterMs: 60_000 });
  });
});
