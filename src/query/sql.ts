/**
 * Recursive-descent parser for the strict SQL subset of `POST /v1/query/sql`, producing a QuerySpec.
 * Anything outside the subset (OR, HAVING, aliases, joins, other functions, ...) is a 400 naming it.
 */
import { COLUMNS, TIME_BUCKETS, groupKeyName, type Column, type Filter, type GroupKey, type Metric, type OrderBy, type QuerySpec } from './spec.ts';
import { KEYWORDS, describeToken, lex, screen, sqlError as fail, type Token } from './sql-lexer.ts';

export const MAX_SQL_LENGTH = 10_000;
export const DEFAULT_MAX_LIMIT = 10_000;

export interface SqlOptions {
  readonly defaultLimit?: number;
  readonly maxLimit?: number;
}

const AGGREGATE_TEXT: Readonly<Record<Metric, string>> = { sum: 'SUM(quantity)', count: 'COUNT(*)' };

/** A column reference: a group key, or one of the two columns that are not group keys. */
type Ref = { readonly text: string; readonly key: GroupKey } | { readonly text: string; readonly special: 'quantity' | 'timestamp_ms' };

export function parseSql(sql: string, opts: SqlOptions = {}): QuerySpec {
  if (sql.length > MAX_SQL_LENGTH) fail(`SQL: longer than ${MAX_SQL_LENGTH} characters`);
  const tokens = lex(sql);
  if (tokens[0]?.kind === 'eof') fail('SQL: is empty; send one SELECT statement');
  screen(tokens);
  return new Parser(tokens, opts).statement();
}

class Parser {
  private readonly tokens: readonly Token[];
  private readonly opts: SqlOptions;
  private i = 0;

  constructor(tokens: readonly Token[], opts: SqlOptions) {
    this.tokens = tokens;
    this.opts = opts;
  }

  statement(): QuerySpec {
    const first = this.peek();
    if (!this.eatKeyword('SELECT')) {
      if (first.kind === 'word') fail(`${first.text.toUpperCase()}: not supported; only SELECT queries are accepted`);
      this.unexpected();
    }
    // SELECT list
    const metrics: Metric[] = [];
    const selected: Ref[] = [];
    do {
      if (this.isPunct('*')) fail('SELECT *: not supported; list the columns');
      if (this.isCall()) {
        const m = this.aggregate();
        if (!metrics.includes(m)) metrics.push(m);
      } else {
        const ref = this.ref();
        if ('special' in ref) {
          fail(
            ref.special === 'quantity' ? 'quantity: select SUM(quantity), not the raw column' : 'timestamp_ms: cannot be selected; group by hour, day or month',
          );
        }
        selected.push(ref);
      }
      this.refuseAlias();
    } while (this.eatPunct(','));
    if (metrics.length === 0) fail('SELECT: at least one of SUM(quantity) or COUNT(*) is required');

    // FROM usage_events
    if (!this.eatKeyword('FROM')) fail(`FROM: missing (found ${describeToken(this.peek())}); write FROM usage_events`);
    const table = this.next();
    if (table.kind === 'eof') fail('FROM: missing table; the only table is usage_events');
    if (!((table.kind === 'word' || table.kind === 'qident') && table.text === 'usage_events')) {
      fail(`FROM: unknown table ${JSON.stringify(table.text.slice(0, 64))}; the only table is usage_events`);
    }
    if (this.isPunct(',')) fail('FROM: only one table (usage_events) is supported');
    this.refuseAlias();

    // WHERE
    const where: WhereState = { accountId: undefined, from: undefined, to: undefined, filters: new Map() };
    if (this.eatKeyword('WHERE')) {
      do this.condition(where);
      while (this.eatKeyword('AND'));
    }

    // GROUP BY
    const groupBy: GroupKey[] = [];
    if (this.eatKeyword('GROUP')) {
      this.expectKeyword('BY', 'GROUP');
      do {
        if (this.peek().kind === 'number') fail('GROUP BY: positional references are not supported; name the column');
        const ref = this.ref();
        if ('special' in ref) fail(`${ref.text}: cannot be grouped by${ref.special === 'timestamp_ms' ? '; use hour, day or month' : ''}`);
        if (groupBy.some((k) => groupKeyName(k) === groupKeyName(ref.key))) fail(`${ref.text}: appears twice in GROUP BY`);
        groupBy.push(ref.key);
      } while (this.eatPunct(','));
    }
    const grouped = new Set(groupBy.map(groupKeyName));
    for (const ref of selected) {
      if ('key' in ref && !grouped.has(groupKeyName(ref.key))) fail(`${ref.text}: selected but not in GROUP BY`);
    }

    // ORDER BY
    const orderBy: OrderBy[] = [];
    if (this.eatKeyword('ORDER')) {
      this.expectKeyword('BY', 'ORDER');
      do {
        if (this.peek().kind === 'number') fail('ORDER BY: positional references are not supported; name the column');
        let key: string;
        if (this.isCall()) {
          const m = this.aggregate();
          if (!metrics.includes(m)) fail(`ORDER BY ${AGGREGATE_TEXT[m]}: must also be selected`);
          key = m;
        } else {
          const ref = this.ref();
          if ('special' in ref) fail(`${ref.text}: cannot be ordered by; order by SUM(quantity), COUNT(*) or a GROUP BY key`);
          key = groupKeyName(ref.key);
          if (!grouped.has(key)) fail(`${ref.text}: ORDER BY keys must be in GROUP BY`);
        }
        const desc = this.eatKeyword('DESC') || (this.eatKeyword('ASC') && false);
        if (orderBy.some((o) => o.key === key)) fail(`ORDER BY: ${key} appears twice`);
        orderBy.push({ key, desc });
      } while (this.eatPunct(','));
    }

    // LIMIT
    let limit = this.opts.defaultLimit;
    if (this.eatKeyword('LIMIT')) {
      const max = this.opts.maxLimit ?? DEFAULT_MAX_LIMIT;
      const n = this.integer();
      if (n === undefined || n < 1 || n > max) fail(`LIMIT: must be an integer from 1 to ${max}`);
      limit = n;
    }

    // One statement, optionally ended by a semicolon.
    if (this.eatPunct(';') && this.peek().kind !== 'eof') fail('SQL: only one statement is allowed');
    if (this.peek().kind !== 'eof') this.unexpected();

    if (where.from === undefined || where.to === undefined) {
      fail('timestamp_ms: a lower bound (timestamp_ms >= ..) and an upper bound (timestamp_ms < ..) are both required');
    }
    if (where.from >= where.to) fail('timestamp_ms: the lower bound must be before the upper bound (the range is [from, to))');
    return {
      accountId: where.accountId,
      from: where.from,
      to: where.to,
      groupBy,
      filters: [...where.filters.values()],
      metrics,
      source: 'auto',
      orderBy,
      limit,
    };
  }

  /** `<ref> = 'v'`, `<ref> IN ('a', ...)`, or `timestamp_ms <op> <int>`. */
  private condition(w: WhereState): void {
    if (this.isPunct('(')) fail('parentheses: not supported in WHERE; join conditions with AND');
    const ref = this.ref();
    const op = this.next();
    if (op.kind === 'punct' && (op.text === '!=' || op.text === '<>')) fail(`${op.text}: not supported; use = or IN`);
    const ordering = op.kind === 'punct' && ['<', '<=', '>', '>='].includes(op.text);
    if ('special' in ref && ref.special === 'timestamp_ms') {
      if (!ordering) fail(`timestamp_ms: only >=, >, < and <= are supported (found ${describeToken(op)})`);
      const n = this.integer();
      if (n === undefined) fail(`timestamp_ms: expects an integer (ms since the epoch), found ${describeToken(this.tokens[this.i - 1] as Token)}`);
      if (op.text === '>=' || op.text === '>') {
        const from = op.text === '>' ? n + 1 : n;
        w.from = w.from === undefined ? from : Math.max(w.from, from);
      } else {
        const to = op.text === '<=' ? n + 1 : n;
        w.to = w.to === undefined ? to : Math.min(w.to, to);
      }
      return;
    }
    if ('special' in ref) fail(`${ref.text}: cannot be filtered; only = and IN on group columns and timestamp_ms ranges are supported`);
    if (ref.key.type === 'time') fail(`${ref.text}: cannot be filtered; use timestamp_ms >= .. AND timestamp_ms < ..`);
    if (ordering) fail(`${ref.text}: only = and IN are supported (ranges only on timestamp_ms)`);
    let values: string[];
    if (op.kind === 'punct' && op.text === '=') {
      const value = this.stringValue(ref.text);
      if (ref.key.type === 'column' && ref.key.column === 'account_id') {
        if (w.accountId !== undefined) fail('account_id: at most one account_id = condition; use IN for several');
        w.accountId = value;
        return;
      }
      values = [value];
    } else if (op.kind === 'word' && op.text.toUpperCase() === 'IN') {
      if (!this.eatPunct('(')) fail(`IN: expects a parenthesised list of strings, found ${describeToken(this.peek())}`);
      if (this.isPunct(')')) fail('IN: needs at least one value');
      values = [];
      do values.push(this.stringValue('IN'));
      while (this.eatPunct(','));
      if (!this.eatPunct(')')) fail(`IN: expected , or ) but found ${describeToken(this.peek())}`);
    } else {
      fail(`${ref.text}: expected = or IN, found ${describeToken(op)}`);
    }
    addFilter(w, ref.key, values);
  }

  /** SUM(quantity) or COUNT(*); the name is already known to be followed by `(`. */
  private aggregate(): Metric {
    const name = this.next().text.toUpperCase();
    this.next(); // (
    if (name !== 'SUM' && name !== 'COUNT') fail(`${name}: not supported; only SUM(quantity) and COUNT(*) are`);
    const args: Token[] = [];
    while (!this.isPunct(')')) {
      const t = this.peek();
      if (t.kind === 'eof' || (t.kind === 'word' && KEYWORDS.has(t.text.toUpperCase()))) fail(`${name}(: missing ) before ${describeToken(t)}`);
      args.push(this.next());
    }
    this.next(); // )
    const only = args.length === 1 ? args[0] : undefined;
    const argText = args
      .map((a) => (a.kind === 'string' ? `'${a.text}'` : a.kind === 'qident' ? `"${a.text}"` : a.text))
      .join(' ')
      .slice(0, 64);
    if (name === 'SUM') {
      if (only?.kind === 'word' && only.text === 'quantity') return 'sum';
      return fail(`SUM(${argText}): only SUM(quantity) is supported`);
    }
    if (only?.kind === 'punct' && only.text === '*') return 'count';
    return fail(`COUNT(${argText}): only COUNT(*) is supported`);
  }

  /** A column, time bucket or dimension: `source`, `day`, `"dim:region"`, `"region"`, `dimensions.region`. */
  private ref(): Ref {
    const t = this.next();
    if (t.kind === 'word') {
      if (this.isPunct('(')) {
        const name = t.text.toUpperCase();
        fail(name === 'SUM' || name === 'COUNT' ? `${name}: aggregates are only allowed in SELECT and ORDER BY` : `${name}: not supported`);
      }
      if (t.text === 'dimensions') {
        if (!this.eatPunct('.')) fail('dimensions: name a key, e.g. dimensions.region or "dim:region"');
        const k = this.next();
        if (k.kind !== 'word' && k.kind !== 'qident') fail(`dimensions: expected a key after "dimensions.", found ${describeToken(k)}`);
        return dimensionRef(`dimensions.${k.text}`, k.text);
      }
      if (KEYWORDS.has(t.text.toUpperCase())) this.unexpected(t);
      const known = namedRef(t.text);
      if (known !== undefined) return known;
      const hint = namedRef(t.text.toLowerCase()) !== undefined ? ' (column names are lowercase)' : '';
      return fail(`${t.text.slice(0, 64)}: unknown column${hint}`);
    }
    if (t.kind === 'qident') {
      if (t.text.startsWith('dim:')) return dimensionRef(`"${t.text}"`, t.text.slice(4));
      return namedRef(t.text) ?? dimensionRef(`"${t.text}"`, t.text);
    }
    return this.unexpected(t);
  }

  private stringValue(context: string): string {
    const t = this.next();
    if (t.kind !== 'string') fail(`${context}: expects a string literal in single quotes, found ${describeToken(t)}`);
    return t.text;
  }

  /** A non-negative safe integer, or undefined (the token is consumed either way). */
  private integer(): number | undefined {
    const t = this.next();
    if (t.kind !== 'number' || !/^\d+$/.test(t.text)) return undefined;
    const n = Number(t.text);
    return Number.isSafeInteger(n) ? n : undefined;
  }

  /** `SUM(quantity) total`, `FROM usage_events e`: an implicit alias. */
  private refuseAlias(): void {
    const t = this.peek();
    if ((t.kind === 'word' && !KEYWORDS.has(t.text.toUpperCase())) || t.kind === 'qident' || t.kind === 'string') fail('AS: aliases are not supported');
  }

  private isCall(): boolean {
    const t = this.peek();
    const n = this.tokens[this.i + 1];
    return t.kind === 'word' && !KEYWORDS.has(t.text.toUpperCase()) && n?.kind === 'punct' && n.text === '(';
  }

  private peek(): Token {
    return this.tokens[this.i] as Token;
  }

  /** Consumes and returns the current token (end of input stays put). */
  private next(): Token {
    const t = this.peek();
    if (t.kind !== 'eof') this.i++;
    return t;
  }

  private isPunct(text: string): boolean {
    const t = this.peek();
    return t.kind === 'punct' && t.text === text;
  }

  private eatPunct(text: string): boolean {
    return this.isPunct(text) && this.next().kind === 'punct';
  }

  private eatKeyword(word: string): boolean {
    const t = this.peek();
    return t.kind === 'word' && t.text.toUpperCase() === word && this.next().kind === 'word';
  }

  private expectKeyword(word: string, after: string): void {
    if (!this.eatKeyword(word)) fail(`${after}: expected ${word} after ${after}, found ${describeToken(this.peek())}`);
  }

  private unexpected(t: Token = this.peek()): never {
    return fail(`unexpected ${describeToken(t)} at position ${t.pos}`);
  }
}

interface WhereState {
  accountId: string | undefined;
  from: number | undefined;
  to: number | undefined;
  /** Keyed by group key name, in order of first appearance. */
  filters: Map<string, Filter>;
}

function namedRef(name: string): Ref | undefined {
  if ((COLUMNS as readonly string[]).includes(name)) return { text: name, key: { type: 'column', column: name as Column } };
  const bucket = TIME_BUCKETS.find((b) => b === name);
  if (bucket !== undefined) return { text: name, key: { type: 'time', bucket } };
  if (name === 'quantity' || name === 'timestamp_ms') return { text: name, special: name };
  return undefined;
}

function dimensionRef(text: string, key: string): Ref {
  if (key === '') fail(`${text}: the dimension key is empty`);
  return { text, key: { type: 'dimension', key } };
}

/** ANDed filters on one key intersect; an empty intersection is kept (it matches nothing). */
function addFilter(w: WhereState, key: GroupKey, values: readonly string[]): void {
  const name = groupKeyName(key);
  const prev = w.filters.get(name);
  const unique = [...new Set(values)];
  const kept = prev === undefined ? unique : prev.values.filter((v) => unique.includes(v));
  if (key.type === 'column') w.filters.set(name, { type: 'column', column: key.column, values: kept });
  else if (key.type === 'dimension') w.filters.set(name, { type: 'dimension', key: key.key, values: kept });
}
