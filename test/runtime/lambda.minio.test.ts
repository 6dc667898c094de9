/**
 * The Lambda entry (src/runtime/lambda.ts) as Lambda calls it: API Gateway HTTP API (v2) and REST
 * API (v1) events through `handler`, EventBridge events through `jobs`, configured only by
 * environment variables, state in the test S3 endpoint (MinIO).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LambdaEvent } from 'hono/aws-lambda';
import { s3Env, uniquePrefix } from '../support/s3.ts';

const SECRET = 'lambda-test-secret-0123456789';
const ACCOUNT = 'acct-lambda';
let lambda: typeof import('../../src/runtime/lambda.ts');
const saved = { ...process.env };

beforeAll(async () => {
  Object.assign(process.env, {
    ...s3Env(uniquePrefix('lambda')),
    USAGEDB_SHARDS: '2',
    USAGEDB_API_KEYS: `tester:${SECRET}:ingest+read+admin`,
    USAGEDB_LOG_LEVEL: 'error',
  });
  lambda = await import('../../src/runtime/lambda.ts');
});

afterAll(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
});

function httpApiEvent(method: string, path: string, query: string, body?: unknown, auth = true): LambdaEvent {
  const headers: Record<string, string> = { 'content-type': 'application/json', host: 'lambda.test' };
  if (auth) headers.authorization = `Bearer ${SECRET}`;
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: query,
    headers,
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'lambda.test',
      domainPrefix: 'lambda',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'test' },
      requestId: 'req-1',
      routeKey: '$default',
      stage: '$default',
      time: '25/Nov/2026:00:00:00 +0000',
      timeEpoch: 1_795_000_000_000,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    isBase64Encoded: false,
  } as unknown as LambdaEvent;
}

function restApiEvent(method: string, path: string, query: Record<string, string>): LambdaEvent {
  return {
    resource: '/{proxy+}',
    path,
    httpMethod: method,
    headers: { authorization: `Bearer ${SECRET}`, host: 'lambda.test' },
    multiValueHeaders: { authorization: [`Bearer ${SECRET}`], host: ['lambda.test'] },
    queryStringParameters: query,
    multiValueQueryStringParameters: Object.fromEntries(Object.entries(query).map(([k, v]) => [k, [v]])),
    pathParameters: null,
    stageVariables: null,
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      httpMethod: method,
      path,
      stage: 'prod',
      requestId: 'req-2',
      identity: { sourceIp: '203.0.113.7' },
      resourcePath: '/{proxy+}',
    },
    body: null,
    isBase64Encoded: false,
  } as unknown as LambdaEvent;
}

const events = Array.from({ length: 30 }, (_, i) => ({
  event_id: `lambda-${i}`,
  account_id: ACCOUNT,
  product_id: 'chat',
  meter_id: 'tokens.output',
  source: 'api',
  unit: 'tokens',
  timestamp_ms: Date.UTC(2026, 0, 5) + i * 60_000,
  quantity: 1000 + i,
}));
const want = events.reduce((s, e) => s + e.quantity, 0);

describe('Lambda entry against MinIO', () => {
  it('ingests through an HTTP API event, answers a retry as duplicates, and refuses an unauthenticated call', async () => {
    const first = await lambda.handler(httpApiEvent('POST', '/v1/usage/batch', '', { events }));
    expect(first.statusCode, first.body).toBe(200);
    expect(JSON.parse(first.body)).toMatchObject({ accepted: 30, duplicates: 0, rejected: 0 });
    const retry = await lambda.handler(httpApiEvent('POST', '/v1/usage/batch', '', { events }));
    expect(JSON.parse(retry.body)).toMatchObject({ accepted: 0, duplicates: 30 });
    const anonymous = await lambda.handler(httpApiEvent('POST', '/v1/usage/batch', '', { events }, false));
    expect(anonymous.statusCode).toBe(401);
    expect(JSON.parse(anonymous.body).error.code).toBe('unauthorized');
  }, 60_000);

  it('answers the exact total through a REST API (v1) event', async () => {
    const res = await lambda.handler(restApiEvent('GET', `/v1/accounts/${ACCOUNT}/usage`, { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' }));
    expect(res.statusCode, res.body).toBe(200);
    expect(JSON.parse(res.body).lines).toEqual([{ quantity: String(want), count: 30, unit: 'tokens' }]);
  }, 60_000);

  it('runs scheduled jobs from EventBridge events; an unknown job is refused by name', async () => {
    const reports = await lambda.jobs({ job: 'rollup' });
    expect(reports).toHaveLength(1);
    expect(reports[0]!.failed).toBe(0);
    const all = await lambda.jobs({});
    expect(all.map((r) => r.failed)).toEqual([0, 0, 0]);
    await expect(lambda.jobs({ job: 'reindex' })).rejects.toThrow(/job: unknown job "reindex"/);
    const res = await lambda.handler(restApiEvent('GET', `/v1/accounts/${ACCOUNT}/usage`, { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' }));
    expect(JSON.parse(res.body).lines).toEqual([{ quantity: String(want), count: 30, unit: 'tokens' }]);
  }, 60_000);
});
