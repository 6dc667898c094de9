/**
 * Peering configuration (issue 14): USAGEDB_PEER_URL / USAGEDB_PEER_TOKEN / USAGEDB_LEASE_MS /
 * USAGEDB_PEER_TIMEOUT_MS. Off unless PEER_URL is set; the token is required with it, at least 32
 * characters and never echoed; Workers and Lambda refuse peering with an error naming the variable.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.ts';
import { loadConfig } from '../../src/runtime/config.ts';

const TOKEN = 'a-peer-token-of-at-least-32-characters';

function refusal(env: Record<string, string>): ValidationError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error(`${JSON.stringify(env)} was accepted`);
}

describe('peering configuration', () => {
  it('is off by default', () => {
    expect(loadConfig({}).peers).toBeUndefined();
    expect(loadConfig({ USAGEDB_PEER_TOKEN: TOKEN }).peers).toBeUndefined();
  });

  it('reads the URL (trailing slash dropped), token, lease and timeout, with defaults', () => {
    expect(loadConfig({ USAGEDB_PEER_URL: 'http://10.0.0.5:8788/', USAGEDB_PEER_TOKEN: TOKEN }).peers).toEqual({
      url: 'http://10.0.0.5:8788',
      token: TOKEN,
      leaseMs: 10_000,
      timeoutMs: 30_000,
    });
    const c = loadConfig({ USAGEDB_PEER_URL: 'https://a.internal', USAGEDB_PEER_TOKEN: TOKEN, USAGEDB_LEASE_MS: '2000', USAGEDB_PEER_TIMEOUT_MS: '5000' });
    expect(c.peers).toMatchObject({ leaseMs: 2000, timeoutMs: 5000 });
  });

  it('refuses what it cannot use, naming the variable and never the token', () => {
    expect(refusal({ USAGEDB_PEER_URL: 'http://10.0.0.5:8788' }).field).toBe('USAGEDB_PEER_TOKEN');
    const short = 'short-secret-xyz';
    const e = refusal({ USAGEDB_PEER_URL: 'http://10.0.0.5:8788', USAGEDB_PEER_TOKEN: short });
    expect(e.field).toBe('USAGEDB_PEER_TOKEN');
    expect(e.message).toContain('at least 32 characters');
    expect(e.message).not.toContain(short);
    expect(refusal({ USAGEDB_PEER_URL: 'ftp://x', USAGEDB_PEER_TOKEN: TOKEN }).field).toBe('USAGEDB_PEER_URL');
    expect(refusal({ USAGEDB_PEER_URL: 'not a url', USAGEDB_PEER_TOKEN: TOKEN }).field).toBe('USAGEDB_PEER_URL');
    expect(refusal({ USAGEDB_PEER_URL: 'http://a:1/?x=1', USAGEDB_PEER_TOKEN: TOKEN }).field).toBe('USAGEDB_PEER_URL');
    expect(refusal({ USAGEDB_LEASE_MS: '999' }).field).toBe('USAGEDB_LEASE_MS');
    expect(refusal({ USAGEDB_LEASE_MS: '600001' }).field).toBe('USAGEDB_LEASE_MS');
  });

  it('a Worker refuses USAGEDB_PEER_URL (its shards have their Durable Object)', async () => {
    const { configFromEnv, workerTraits } = await import('../../src/runtime/worker-env.ts');
    const env = {
      USAGEDB_S3_BUCKET: 'usage',
      USAGEDB_S3_ENDPOINT: 'http://127.0.0.1:9000',
      USAGEDB_S3_ACCESS_KEY_ID: 'a',
      USAGEDB_S3_SECRET_ACCESS_KEY: 'b',
      USAGEDB_API_KEYS: 'k:0123456789abcdef:admin',
      USAGEDB_PEER_URL: 'http://10.0.0.5:8788',
      USAGEDB_PEER_TOKEN: TOKEN,
    };
    let err: unknown;
    try {
      configFromEnv(env, workerTraits('worker', false, env));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe('USAGEDB_PEER_URL');
    expect((err as ValidationError).message).toMatch(/^configuration: USAGEDB_PEER_URL: /);
  });

  describe('on Lambda', () => {
    const saved = { ...process.env };
    afterEach(() => {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    });

    it('the handler fails to start with a ValidationError naming USAGEDB_PEER_URL', async () => {
      Object.assign(process.env, {
        USAGEDB_STORE: 'fs',
        USAGEDB_DATA_DIR: '/tmp/usagedb-peers-lambda',
        USAGEDB_API_KEYS: 'tester:lambda-peer-secret-0123456789:admin',
        USAGEDB_LOG_LEVEL: 'error',
        USAGEDB_PEER_URL: 'http://10.0.0.5:8788',
        USAGEDB_PEER_TOKEN: TOKEN,
      });
      const lambda = await import('../../src/runtime/lambda.ts');
      const err = await lambda
        .handler({ version: '2.0', rawPath: '/health', rawQueryString: '', headers: {}, requestContext: { http: { method: 'GET' } } } as never)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).message).toMatch(/^configuration: USAGEDB_PEER_URL: /);
    });
  });
});
