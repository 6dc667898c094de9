/**
 * Read routes: account usage, audit events, explain, and the JSON and SQL queries. Each parses
 * its input into a QuerySpec (400 naming the bad parameter), runs it on the QueryEngine and
 * answers quantities as decimal strings.
 */
import type { Hono } from 'hono';
import type { z } from 'zod';
import { ValidationError } from '../../errors.ts';
import { decodeCursor } from '../../query/audit.ts';
import type { QueryEngine } from '../../query/engine.ts';
import { quarantinedIn } from '../../compact/conflicts.ts';
import { explain } from '../../query/explain.ts';
import { verify } from '../../query/verify.ts';
import { parseFilter, parseGroupBy, parseSource } from '../../query/params.ts';
import type { Filter, Metric, OrderBy, QuerySpec } from '../../query/spec.ts';
import { parseSql } from '../../query/sql.ts';
import { checkRange, isoString, parseRange } from '../../query/time-range.ts';
import type { AppEnv } from '../env.ts';
import { isJsonObject, parseStrict, readJson, rejectUnknownFields } from '../json.ts';
import { accountParam, onlyParams } from '../params.ts';
import { jsonQueryRequest } from '../schemas.ts';

/** The SQL text limit of `sqlQueryRequest` (JSON or text/plain alike). */
const SQL_MAX_CHARS = 10_000;

export interface QueryRouteLimits {
  readonly maxPageSize: number;
  readonly defaultPageSize: number;
  readonly maxRangeMs: number;
}

function columnFilters(q: Readonly<Record<string, string>>, names: readonly string[]): Filter[] {
  return names.filter((n) => q[n] !== undefined && q[n] !== '').map((n) => parseFilter(n, q[n]!.includes(',') ? q[n]!.split(',') : q[n], n));
}

// A Map, not an object literal: `metrics: ["constructor"]` must be an unknown metric, not Object.
const METRIC_NAMES: ReadonlyMap<string, Metric> = new Map([
  ['sum', 'sum'],
  ['sum(quantity)', 'sum'],
  ['count', 'count'],
  ['count(*)', 'count'],
]);

function parseMetrics(raw: readonly string[] | undefined): Metric[] {
  if (raw === undefined || raw.length === 0) return ['sum', 'count'];
  const out: Metric[] = [];
  for (const m of raw) {
    const metric = METRIC_NAMES.get(m.toLowerCase().replace(/\s+/g, ''));
    if (metric === undefined) throw new ValidationError(`metrics: unknown metric "${m.slice(0, 32)}"; use sum or count`, 'metrics');
    if (!out.includes(metric)) out.push(metric);
  }
  return out;
}

function parseOrderBy(raw: z.infer<typeof jsonQueryRequest>['order_by'], names: readonly string[]): OrderBy[] {
  return (raw ?? []).map((o) => {
    let key: string;
    let desc = false;
    if (typeof o === 'string') {
      const [k, dir, extra] = o.trim().split(/\s+/);
      if (k === undefined || extra !== undefined || (dir !== undefined && !/^(asc|desc)$/i.test(dir))) {
        throw new ValidationError(`order_by: "${o.slice(0, 40)}" must be "<key> [asc|desc]"`, 'order_by');
      }
      key = k;
      desc = dir?.toLowerCase() === 'desc';
    } else {
      key = o.key ?? o.metric ?? '';
      desc = o.direction === 'desc';
    }
    const metric = METRIC_NAMES.get(key.toLowerCase());
    if (metric !== undefined) return { key: metric, desc };
    if (!names.includes(key)) throw new ValidationError(`order_by: "${key.slice(0, 40)}" is neither a metric nor a group key of this query`, 'order_by');
    return { key, desc };
  });
}

export function queryRoutes(app: Hono<AppEnv>, engine: QueryEngine, limits: QueryRouteLimits): void {
  app.get('/v1/accounts/:account_id/usage', async (c) => {
    const account_id = accountParam(c);
    const q = onlyParams(c, ['from', 'to', 'group_by', 'product_id', 'meter_id', 'model_id', 'source']);
    const range = parseRange(q.from, q.to, limits.maxRangeMs);
    const spec: QuerySpec = {
      accountId: account_id,
      ...range,
      groupBy: parseGroupBy(q.group_by),
      filters: columnFilters(q, ['product_id', 'meter_id', 'model_id']),
      metrics: ['sum', 'count'],
      source: parseSource(q.source),
      orderBy: [],
      limit: undefined,
    };
    const r = await engine.aggregate(spec);
    return c.json({
      account_id,
      from: isoString(range.from),
      to: isoString(range.to),
      source: spec.source,
      generation: Object.values(r.generations)[0] ?? 0,
      lines: r.lines,
      // From the manifest the totals came from: no second revalidation (a conditional GET) per request.
      quarantined_events: quarantinedIn(r.manifests.get(engine.db.shardOf(account_id).shard)!, account_id, range.from, range.to),
    });
  });

  app.get('/v1/accounts/:account_id/usage/events', async (c) => {
    const account_id = accountParam(c);
    const q = onlyParams(c, ['from', 'to', 'meter_id', 'product_id', 'limit', 'cursor']);
    const range = parseRange(q.from, q.to, limits.maxRangeMs);
    const limit = q.limit === undefined ? limits.defaultPageSize : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > limits.maxPageSize) {
      throw new ValidationError(`limit: must be an integer from 1 to ${limits.maxPageSize}`, 'limit');
    }
    const page = await engine.events({
      accountId: account_id,
      ...range,
      filters: columnFilters(q, ['meter_id', 'product_id']),
      limit,
      cursor: q.cursor === undefined ? undefined : decodeCursor(q.cursor),
    });
    return c.json({ account_id, from: isoString(range.from), to: isoString(range.to), ...page });
  });

  app.get('/v1/accounts/:account_id/explain', async (c) => {
    const account_id = accountParam(c);
    const q = onlyParams(c, ['from', 'to']);
    const range = parseRange(q.from, q.to, limits.maxRangeMs);
    const e = await explain(engine, account_id, range.from, range.to);
    return c.json({ account_id, from: isoString(range.from), to: isoString(range.to), ...e });
  });

  app.get('/v1/accounts/:account_id/verify', async (c) => {
    const account_id = accountParam(c);
    const q = onlyParams(c, ['from', 'to']);
    const range = parseRange(q.from, q.to, limits.maxRangeMs);
    const v = await verify(engine, account_id, range.from, range.to);
    return c.json({ account_id, from: isoString(range.from), to: isoString(range.to), ...v });
  });

  app.post('/v1/query/json', async (c) => {
    const raw = await readJson(c.req.raw);
    const b = parseStrict(jsonQueryRequest, raw);
    const range = parseRange(b.from, b.to, limits.maxRangeMs);
    const groupBy = parseGroupBy(b.group_by);
    const names = groupBy.map((g) => (g.type === 'column' ? g.column : g.type === 'time' ? g.bucket : `dim:${g.key}`));
    const spec: QuerySpec = {
      accountId: b.account_id,
      ...range,
      groupBy,
      // From the parsed JSON itself: zod's record drops a `__proto__` key, which must be refused instead.
      filters: Object.entries((raw as { filters?: Record<string, unknown> }).filters ?? {}).map(([k, v]) => parseFilter(k, v)),
      metrics: parseMetrics(b.metrics),
      source: parseSource(b.source),
      orderBy: parseOrderBy(b.order_by, names),
      limit: b.limit,
    };
    return c.json(await answer(engine, spec));
  });

  app.post('/v1/query/sql', async (c) => {
    const type = c.req.header('content-type') ?? '';
    let sql: unknown;
    if (type.startsWith('text/plain') || type.startsWith('application/sql')) sql = await c.req.text();
    else {
      const body = await readJson(c.req.raw);
      if (isJsonObject(body)) rejectUnknownFields(body, ['sql']);
      sql = isJsonObject(body) ? body.sql : undefined;
    }
    if (typeof sql !== 'string') throw new ValidationError('sql: is required (a JSON body {"sql": "SELECT ..."} or a text/plain body)', 'sql');
    if (sql.length > SQL_MAX_CHARS) throw new ValidationError(`sql: longer than ${SQL_MAX_CHARS} characters`, 'sql');
    const spec = parseSql(sql);
    checkRange(spec.from, spec.to, limits.maxRangeMs);
    return c.json(await answer(engine, spec));
  });
}

async function answer(engine: QueryEngine, spec: QuerySpec) {
  const r = await engine.aggregate(spec);
  return {
    ...(spec.accountId === undefined ? {} : { account_id: spec.accountId }),
    from: isoString(spec.from),
    to: isoString(spec.to),
    source: spec.source,
    generations: r.generations,
    lines: r.lines,
  };
}
