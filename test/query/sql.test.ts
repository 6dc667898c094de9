/**
 * The SQL subset of `POST /v1/query/sql`: exact QuerySpecs for accepted queries, and a rejection
 * matrix checking each refused construct is a ValidationError whose message names it first.
 */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.ts';
import { parseSql } from '../../src/query/sql.ts';
import type { QuerySpec } from '../../src/query/spec.ts';

const RANGE = 'timestamp_ms >= 1000 AND timestamp_ms < 2000';
const base: QuerySpec = {
  accountId: undefined,
  from: 1000,
  to: 2000,
  groupBy: [],
  filters: [],
  metrics: ['sum'],
  source: 'auto',
  orderBy: [],
  limit: undefined,
};

describe('parseSql: accepted queries', () => {
  it('parses the reference example', () => {
    const spec = parseSql(
      "SELECT product_id, SUM(quantity), COUNT(*) FROM usage_events WHERE account_id = 'acct_1' AND timestamp_ms >= 1700000000000 AND timestamp_ms < 1700003600000 GROUP BY product_id",
    );
    expect(spec).toEqual({
      ...base,
      accountId: 'acct_1',
      from: 1700000000000,
      to: 1700003600000,
      groupBy: [{ type: 'column', column: 'product_id' }],
      metrics: ['sum', 'count'],
    });
  });

  it('distinguishes < from <= and >= from >', () => {
    expect(parseSql(`SELECT SUM(quantity) FROM usage_events WHERE timestamp_ms >= 10 AND timestamp_ms < 20`)).toMatchObject({ from: 10, to: 20 });
    expect(parseSql(`SELECT SUM(quantity) FROM usage_events WHERE timestamp_ms >= 10 AND timestamp_ms <= 20`)).toMatchObject({ from: 10, to: 21 });
    expect(parseSql(`SELECT SUM(quantity) FROM usage_events WHERE timestamp_ms > 10 AND timestamp_ms < 20`)).toMatchObject({ from: 11, to: 20 });
    expect(parseSql(`SELECT SUM(quantity) FROM usage_events WHERE timestamp_ms > 10 AND timestamp_ms <= 20`)).toMatchObject({ from: 11, to: 21 });
  });

  it('accepts the bounds in any order and keeps the tightest of repeated bounds', () => {
    const spec = parseSql('SELECT COUNT(*) FROM usage_events WHERE timestamp_ms < 50 AND timestamp_ms >= 5 AND timestamp_ms > 7 AND timestamp_ms <= 40');
    expect(spec).toEqual({ ...base, from: 8, to: 41, metrics: ['count'] });
  });

  it('accepts a one-millisecond range (timestamp_ms >= n AND timestamp_ms <= n)', () => {
    expect(parseSql('SELECT COUNT(*) FROM usage_events WHERE timestamp_ms >= 5 AND timestamp_ms <= 5')).toMatchObject({ from: 5, to: 6 });
  });

  it('maps every group key kind, in GROUP BY order', () => {
    const spec = parseSql(
      `SELECT day, "dim:region", SUM(quantity) FROM usage_events WHERE ${RANGE}
       GROUP BY account_id, subscription_id, product_id, meter_id, model_id, source, unit, kind, hour, day, month, "dim:region", dimensions.tier, "team", dimensions."a b"`,
    );
    expect(spec.groupBy).toEqual([
      { type: 'column', column: 'account_id' },
      { type: 'column', column: 'subscription_id' },
      { type: 'column', column: 'product_id' },
      { type: 'column', column: 'meter_id' },
      { type: 'column', column: 'model_id' },
      { type: 'column', column: 'source' },
      { type: 'column', column: 'unit' },
      { type: 'column', column: 'kind' },
      { type: 'time', bucket: 'hour' },
      { type: 'time', bucket: 'day' },
      { type: 'time', bucket: 'month' },
      { type: 'dimension', key: 'region' },
      { type: 'dimension', key: 'tier' },
      { type: 'dimension', key: 'team' },
      { type: 'dimension', key: 'a b' },
    ]);
  });

  it('treats a quoted column name as the column, and the three dimension spellings as one key', () => {
    const spec = parseSql(`SELECT "source", dimensions.region, SUM(quantity) FROM usage_events WHERE ${RANGE} GROUP BY source, "region"`);
    expect(spec.groupBy).toEqual([
      { type: 'column', column: 'source' },
      { type: 'dimension', key: 'region' },
    ]);
  });

  it('parses = and IN filters on columns and dimensions, in order of appearance', () => {
    const spec = parseSql(
      `SELECT SUM(quantity) FROM usage_events WHERE ${RANGE} AND product_id = 'p1' AND model_id IN ('gpt', 'claude', 'gpt')
       AND "dim:region" = 'eu' AND dimensions.tier IN ('free') AND kind = 'correction' AND account_id IN ('a', 'b')`,
    );
    expect(spec.filters).toEqual([
      { type: 'column', column: 'product_id', values: ['p1'] },
      { type: 'column', column: 'model_id', values: ['gpt', 'claude'] },
      { type: 'dimension', key: 'region', values: ['eu'] },
      { type: 'dimension', key: 'tier', values: ['free'] },
      { type: 'column', column: 'kind', values: ['correction'] },
      { type: 'column', column: 'account_id', values: ['a', 'b'] },
    ]);
    expect(spec.accountId).toBeUndefined();
  });

  it('intersects repeated filters on one key, keeping an empty intersection', () => {
    const spec = parseSql(
      `SELECT COUNT(*) FROM usage_events WHERE ${RANGE} AND unit IN ('a', 'b', 'c') AND unit IN ('c', 'b', 'x') AND dimensions.r = 'eu' AND "dim:r" = 'us'`,
    );
    expect(spec.filters).toEqual([
      { type: 'column', column: 'unit', values: ['b', 'c'] },
      { type: 'dimension', key: 'r', values: [] },
    ]);
  });

  it('deduplicates metrics in select order', () => {
    expect(parseSql(`SELECT COUNT(*), SUM(quantity), count(*), sum(quantity) FROM usage_events WHERE ${RANGE}`).metrics).toEqual(['count', 'sum']);
  });

  it('parses ORDER BY on metrics and group keys, and LIMIT', () => {
    const spec = parseSql(
      `SELECT source, "dim:region", SUM(quantity), COUNT(*) FROM usage_events WHERE ${RANGE}
       GROUP BY source, day, dimensions.region ORDER BY SUM(quantity) DESC, source ASC, day, "region" DESC, count(*) LIMIT 25`,
    );
    expect(spec.orderBy).toEqual([
      { key: 'sum', desc: true },
      { key: 'source', desc: false },
      { key: 'day', desc: false },
      { key: 'dim:region', desc: true },
      { key: 'count', desc: false },
    ]);
    expect(spec.limit).toBe(25);
  });

  it('applies defaultLimit and maxLimit', () => {
    const q = `SELECT SUM(quantity) FROM usage_events WHERE ${RANGE}`;
    expect(parseSql(q).limit).toBeUndefined();
    expect(parseSql(q, { defaultLimit: 100 }).limit).toBe(100);
    expect(parseSql(`${q} LIMIT 7`, { defaultLimit: 100 }).limit).toBe(7);
    expect(parseSql(`${q} LIMIT 10000`).limit).toBe(10000);
    expect(parseSql(`${q} LIMIT 50`, { maxLimit: 50 }).limit).toBe(50);
  });

  it('is case-insensitive for keywords and functions, tolerates newlines and a trailing semicolon', () => {
    const spec = parseSql(
      `select\n\tsource ,Sum( quantity ),COUNT ( * )\nfrom usage_events\r\nwhere account_id='x'and timestamp_ms>=1000 And timestamp_ms<2000\ngroup by source order by source desc limit 3 ;  \n`,
    );
    expect(spec).toEqual({
      ...base,
      accountId: 'x',
      groupBy: [{ type: 'column', column: 'source' }],
      metrics: ['sum', 'count'],
      orderBy: [{ key: 'source', desc: true }],
      limit: 3,
    });
  });

  it('decodes \'\' escapes, "" escapes and unicode', () => {
    const spec = parseSql(
      `SELECT SUM(quantity) FROM usage_events WHERE ${RANGE} AND account_id = 'o''brien' AND "dim:ré""gion" = 'ünïcødé 🚀' AND source IN ('', '''')`,
    );
    expect(spec.accountId).toBe("o'brien");
    expect(spec.filters).toEqual([
      { type: 'dimension', key: 'ré"gion', values: ['ünïcødé 🚀'] },
      { type: 'column', column: 'source', values: ['', "'"] },
    ]);
  });

  it('accepts exactly 10000 characters', () => {
    const q = `SELECT SUM(quantity) FROM usage_events WHERE ${RANGE}`;
    expect(parseSql(q + ' '.repeat(10_000 - q.length)).from).toBe(1000);
  });
});

describe('parseSql: rejections', () => {
  const S = 'SELECT SUM(quantity) FROM usage_events';
  const W = `${S} WHERE ${RANGE}`;
  const cases: [name: string, sql: string, prefix: string][] = [
    ['OR', `${W} AND source = 'a' OR source = 'b'`, 'OR:'],
    ['lowercase or', `${W} or source = 'b'`, 'OR:'],
    ['NOT', `${W} AND NOT source = 'a'`, 'NOT:'],
    ['NOT IN', `${W} AND source NOT IN ('a')`, 'NOT:'],
    ['HAVING', `${W} GROUP BY source HAVING SUM(quantity) > 5`, 'HAVING:'],
    ['AS on a metric', `SELECT SUM(quantity) AS total FROM usage_events WHERE ${RANGE}`, 'AS:'],
    ['implicit alias on a metric', `SELECT SUM(quantity) total FROM usage_events WHERE ${RANGE}`, 'AS:'],
    ['implicit alias on a column', `SELECT source src, COUNT(*) FROM usage_events WHERE ${RANGE} GROUP BY source`, 'AS:'],
    ['quoted alias', `SELECT COUNT(*) "n" FROM usage_events WHERE ${RANGE}`, 'AS:'],
    ['table alias', `${S} e WHERE ${RANGE}`, 'AS:'],
    ['SELECT *', `SELECT * FROM usage_events WHERE ${RANGE}`, 'SELECT *:'],
    ['SELECT *, metric', `SELECT *, COUNT(*) FROM usage_events WHERE ${RANGE}`, 'SELECT *:'],
    ['unknown table', `SELECT SUM(quantity) FROM foo WHERE ${RANGE}`, 'FROM: unknown table "foo"'],
    ['uppercase table', `SELECT SUM(quantity) FROM USAGE_EVENTS WHERE ${RANGE}`, 'FROM: unknown table'],
    ['two tables', `${S}, other WHERE ${RANGE}`, 'FROM:'],
    ['missing FROM', `SELECT SUM(quantity) WHERE ${RANGE}`, 'FROM:'],
    ['missing table', 'SELECT SUM(quantity) FROM', 'FROM:'],
    ['SUM of another column', `SELECT SUM(tokens) FROM usage_events WHERE ${RANGE}`, 'SUM(tokens): only SUM(quantity) is supported'],
    ['SUM(*)', `SELECT SUM(*) FROM usage_events WHERE ${RANGE}`, 'SUM(*):'],
    ['COUNT of a column', `SELECT COUNT(event_id) FROM usage_events WHERE ${RANGE}`, 'COUNT(event_id): only COUNT(*) is supported'],
    ['COUNT(1)', `SELECT COUNT(1) FROM usage_events WHERE ${RANGE}`, 'COUNT(1):'],
    ['COUNT(DISTINCT)', `SELECT COUNT(DISTINCT source) FROM usage_events WHERE ${RANGE}`, 'DISTINCT:'],
    ['AVG', `SELECT AVG(quantity) FROM usage_events WHERE ${RANGE}`, 'AVG: not supported'],
    ['max', `SELECT max(quantity) FROM usage_events WHERE ${RANGE}`, 'MAX: not supported'],
    ['function in WHERE', `${W} AND lower(source) = 'a'`, 'LOWER:'],
    ['aggregate in WHERE', `${W} AND SUM(quantity) = 'a'`, 'SUM:'],
    ['JOIN', `${S} JOIN other ON x = y WHERE ${RANGE}`, 'JOIN:'],
    ['LEFT JOIN', `${S} LEFT JOIN other ON x = y WHERE ${RANGE}`, 'JOIN:'],
    ['subquery in FROM', `SELECT SUM(quantity) FROM (SELECT * FROM usage_events) WHERE ${RANGE}`, 'subquery:'],
    ['subquery in IN', `${W} AND source IN (SELECT source FROM usage_events)`, 'subquery:'],
    ['UNION', `${W} UNION ${W}`, 'UNION:'],
    ['OFFSET', `${W} LIMIT 10 OFFSET 5`, 'OFFSET:'],
    ['range on quantity', `${W} AND quantity > 5`, 'quantity:'],
    ['= on quantity', `${W} AND quantity = '5'`, 'quantity:'],
    ['range on a column', `${W} AND source >= 'a'`, 'source:'],
    ['!=', `${W} AND source != 'a'`, '!=:'],
    ['<>', `${W} AND source <> 'a'`, '<>:'],
    ['LIKE', `${W} AND source LIKE 'a%'`, 'LIKE:'],
    ['BETWEEN', `${S} WHERE timestamp_ms BETWEEN 1 AND 5`, 'BETWEEN:'],
    ['IS NULL', `${W} AND model_id IS NULL`, 'IS:'],
    ['unterminated string', `${W} AND source = 'abc`, 'string literal: unterminated'],
    ['unterminated by an escape', `${W} AND source = 'abc''`, 'string literal: unterminated'],
    ['unterminated quoted identifier', `${W} GROUP BY "dim:region`, 'quoted identifier: unterminated'],
    ['trailing garbage', `${W} garbage`, 'unexpected "garbage"'],
    ['trailing garbage after LIMIT', `${W} LIMIT 5 5`, 'unexpected "5"'],
    ['clauses out of order', `${W} LIMIT 5 ORDER BY SUM(quantity)`, 'unexpected "ORDER"'],
    ['stray character', `${W} AND source = 'a' #`, 'unexpected character "#"'],
    ['empty input', '', 'SQL:'],
    ['blank input', '  \n\t ', 'SQL:'],
    ['two statements', `${W}; ${W}`, 'SQL: only one statement'],
    ['too long', `${W}${' '.repeat(10_001 - W.length)}`, 'SQL: longer than 10000 characters'],
    ['not a SELECT', 'DELETE FROM usage_events', 'DELETE:'],
    ['unknown bare column in SELECT', `SELECT foo, SUM(quantity) FROM usage_events WHERE ${RANGE} GROUP BY foo`, 'foo: unknown column'],
    ['unknown bare column in GROUP BY', `${W} GROUP BY region`, 'region: unknown column'],
    ['uppercase column', `${W} GROUP BY SOURCE`, 'SOURCE: unknown column'],
    ['unknown column in WHERE', `${W} AND foo = 'a'`, 'foo: unknown column'],
    ['selected column not grouped', `SELECT source, SUM(quantity) FROM usage_events WHERE ${RANGE}`, 'source: selected but not in GROUP BY'],
    [
      'selected dimension not grouped',
      `SELECT "dim:region", SUM(quantity) FROM usage_events WHERE ${RANGE} GROUP BY source`,
      '"dim:region": selected but not in GROUP BY',
    ],
    ['no metric', `SELECT source FROM usage_events WHERE ${RANGE} GROUP BY source`, 'SELECT:'],
    ['raw quantity', `SELECT quantity, COUNT(*) FROM usage_events WHERE ${RANGE}`, 'quantity:'],
    ['group by timestamp_ms', `${W} GROUP BY timestamp_ms`, 'timestamp_ms:'],
    ['positional GROUP BY', `${W} GROUP BY 1`, 'GROUP BY:'],
    ['GROUP without BY', `${W} GROUP source`, 'GROUP:'],
    ['duplicate GROUP BY key', `${W} GROUP BY source, "source"`, 'source: appears twice'],
    ['no timestamp bounds', `${S} WHERE account_id = 'a'`, 'timestamp_ms:'],
    ['no WHERE', S, 'timestamp_ms:'],
    ['no upper bound', `${S} WHERE timestamp_ms >= 5`, 'timestamp_ms:'],
    ['no lower bound', `${S} WHERE timestamp_ms < 5`, 'timestamp_ms:'],
    ['from = to', `${S} WHERE timestamp_ms >= 5 AND timestamp_ms < 5`, 'timestamp_ms:'],
    ['from > to', `${S} WHERE timestamp_ms > 5 AND timestamp_ms <= 5`, 'timestamp_ms:'],
    ['= on timestamp_ms', `${S} WHERE timestamp_ms = 5`, 'timestamp_ms:'],
    ['string timestamp', `${S} WHERE timestamp_ms >= '2026-01-01' AND timestamp_ms < 5`, 'timestamp_ms:'],
    ['fractional timestamp', `${S} WHERE timestamp_ms >= 1.5 AND timestamp_ms < 5`, 'timestamp_ms:'],
    ['negative timestamp', `${S} WHERE timestamp_ms >= -5 AND timestamp_ms < 5`, 'timestamp_ms:'],
    ['unsafe integer', `${S} WHERE timestamp_ms >= 1 AND timestamp_ms < 99999999999999999999`, 'timestamp_ms:'],
    ['account_id twice', `${W} AND account_id = 'a' AND account_id = 'b'`, 'account_id:'],
    ['number for a string column', `${W} AND source = 5`, 'source:'],
    ['double-quoted value', `${W} AND source = "api"`, 'source:'],
    ['empty IN', `${W} AND source IN ()`, 'IN:'],
    ['IN without parentheses', `${W} AND source IN 'a'`, 'IN:'],
    ['filter on a time bucket', `${W} AND day = '2026-01-01'`, 'day:'],
    ['parentheses in WHERE', `${S} WHERE (${RANGE})`, 'parentheses:'],
    ['empty dimension key', `${W} GROUP BY "dim:"`, '"dim:":'],
    ['bare dimensions', `${W} GROUP BY dimensions`, 'dimensions:'],
    ['ORDER BY unselected metric', `${W} ORDER BY COUNT(*)`, 'ORDER BY COUNT(*):'],
    ['ORDER BY ungrouped key', `${W} GROUP BY source ORDER BY unit`, 'unit:'],
    ['ORDER BY positional', `${W} ORDER BY 1`, 'ORDER BY:'],
    ['ORDER BY twice', `${W} ORDER BY SUM(quantity), sum(quantity) DESC`, 'ORDER BY:'],
    ['LIMIT 0', `${W} LIMIT 0`, 'LIMIT:'],
    ['LIMIT over max', `${W} LIMIT 10001`, 'LIMIT:'],
    ['LIMIT negative', `${W} LIMIT -1`, 'LIMIT:'],
    ['LIMIT string', `${W} LIMIT 'x'`, 'LIMIT:'],
    ['LIMIT missing', `${W} LIMIT`, 'LIMIT:'],
  ];

  for (const [name, sql, prefix] of cases) {
    it(`${name} → ${prefix}`, () => {
      expect(() => parseSql(sql)).toThrow(ValidationError);
      try {
        parseSql(sql);
      } catch (e) {
        expect(e).toBeInstanceOf(ValidationError);
        const err = e as ValidationError;
        expect(err.message.startsWith(prefix), `message: ${err.message}`).toBe(true);
        expect(err.code).toBe('invalid_request');
        expect(err.field).toBe('sql');
      }
    });
  }

  it('honours a lower maxLimit', () => {
    expect(() => parseSql(`${W} LIMIT 51`, { maxLimit: 50 })).toThrow(/^LIMIT: must be an integer from 1 to 50/);
  });

  it('names the aliases message and the table message exactly', () => {
    expect(() => parseSql(`SELECT SUM(quantity) FROM foo WHERE ${RANGE}`)).toThrow('FROM: unknown table "foo"; the only table is usage_events');
    expect(() => parseSql(`SELECT SUM(quantity) total FROM usage_events WHERE ${RANGE}`)).toThrow('AS: aliases are not supported');
    expect(() => parseSql(`SELECT * FROM usage_events WHERE ${RANGE}`)).toThrow('SELECT *: not supported; list the columns');
  });
});
