/**
 * Tokenizer for the SQL subset of `POST /v1/query/sql`: words, "quoted identifiers", 'strings'
 * (with '' escapes), integers and a few operators. Anything else is a 400 naming the character.
 */
import { ValidationError } from '../errors.ts';

export type TokenKind = 'word' | 'qident' | 'string' | 'number' | 'punct' | 'eof';

export interface Token {
  readonly kind: TokenKind;
  /** The word or operator as written; the decoded value for strings and quoted identifiers. */
  readonly text: string;
  /** 1-based character position in the input. */
  readonly pos: number;
}

const TWO_CHAR_OPS = new Set(['<=', '>=', '<>', '!=']);
const ONE_CHAR_OPS = new Set(['=', '<', '>', '(', ')', ',', '*', ';', '.', '-', '+', '/']);
const WORD_START = /[A-Za-z_]/;
const WORD_PART = /[A-Za-z0-9_]/;
// Numbers swallow trailing letters, dots and digits so `1.5` or `10abc` is one bad number, not two tokens.
const NUMBER_PART = /[A-Za-z0-9_.]/;
const SPACE = /\s/;

// Keywords outside the subset, refused wherever they appear (by `screen`, before parsing).
const UNSUPPORTED: Readonly<Record<string, string>> = {
  OR: 'OR: not supported; join conditions with AND (use IN for alternatives)',
  NOT: 'NOT: not supported',
  HAVING: 'HAVING: not supported',
  AS: 'AS: aliases are not supported',
  JOIN: 'JOIN: not supported; the only table is usage_events',
  UNION: 'UNION: not supported; send one SELECT',
  INTERSECT: 'INTERSECT: not supported; send one SELECT',
  EXCEPT: 'EXCEPT: not supported; send one SELECT',
  OFFSET: 'OFFSET: not supported',
  LIKE: 'LIKE: not supported; use = or IN',
  ILIKE: 'ILIKE: not supported; use = or IN',
  BETWEEN: 'BETWEEN: not supported; use timestamp_ms >= .. AND timestamp_ms < ..',
  DISTINCT: 'DISTINCT: not supported',
  IS: 'IS: not supported; use = or IN',
  WITH: 'WITH: not supported',
};
/** Reserved words (upper case): never a column, never an implicit alias. */
export const KEYWORDS = new Set(['SELECT', 'FROM', 'WHERE', 'AND', 'GROUP', 'BY', 'ORDER', 'ASC', 'DESC', 'LIMIT', 'IN', ...Object.keys(UNSUPPORTED)]);

export function sqlError(message: string): never {
  throw new ValidationError(message, 'sql');
}

/** Reads a quoted run starting at `start` (the opening quote); a doubled quote is an escaped one. */
function readQuoted(sql: string, start: number, quote: string, what: string): { value: string; end: number } {
  let value = '';
  let i = start + 1;
  for (;;) {
    const j = sql.indexOf(quote, i);
    if (j < 0) return sqlError(`${what}: unterminated (opened at position ${start + 1})`);
    value += sql.slice(i, j);
    if (sql[j + 1] === quote) {
      value += quote;
      i = j + 2;
    } else {
      return { value, end: j + 1 };
    }
  }
}

export function lex(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    const pos = i + 1;
    if (SPACE.test(c)) {
      i++;
    } else if (c === "'") {
      const { value, end } = readQuoted(sql, i, "'", 'string literal');
      tokens.push({ kind: 'string', text: value, pos });
      i = end;
    } else if (c === '"') {
      const { value, end } = readQuoted(sql, i, '"', 'quoted identifier');
      tokens.push({ kind: 'qident', text: value, pos });
      i = end;
    } else if (WORD_START.test(c)) {
      let j = i + 1;
      while (j < sql.length && WORD_PART.test(sql[j] as string)) j++;
      tokens.push({ kind: 'word', text: sql.slice(i, j), pos });
      i = j;
    } else if (c >= '0' && c <= '9') {
      let j = i + 1;
      while (j < sql.length && NUMBER_PART.test(sql[j] as string)) j++;
      tokens.push({ kind: 'number', text: sql.slice(i, j), pos });
      i = j;
    } else if (TWO_CHAR_OPS.has(sql.slice(i, i + 2))) {
      tokens.push({ kind: 'punct', text: sql.slice(i, i + 2), pos });
      i += 2;
    } else if (ONE_CHAR_OPS.has(c)) {
      tokens.push({ kind: 'punct', text: c, pos });
      i++;
    } else {
      const ch = String.fromCodePoint(sql.codePointAt(i) ?? 0);
      return sqlError(`unexpected character ${JSON.stringify(ch)} at position ${pos}`);
    }
  }
  tokens.push({ kind: 'eof', text: '', pos: sql.length + 1 });
  return tokens;
}

/** A token as it would read in an error message. */
export function describeToken(t: Token): string {
  const short = t.text.length > 40 ? `${t.text.slice(0, 40)}…` : t.text;
  switch (t.kind) {
    case 'eof':
      return 'end of input';
    case 'string':
      return `string '${short.replaceAll("'", "''")}'`;
    case 'qident':
      return `identifier "${short}"`;
    default:
      return JSON.stringify(short);
  }
}

/** Refuses unsupported keywords and subqueries wherever they are, so they get a message naming them. */
export function screen(tokens: readonly Token[]): void {
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as Token;
    if (t.kind === 'word') {
      const message = UNSUPPORTED[t.text.toUpperCase()];
      if (message !== undefined) sqlError(message);
    }
    const n = tokens[i + 1];
    if (t.kind === 'punct' && t.text === '(' && n?.kind === 'word' && n.text.toUpperCase() === 'SELECT') sqlError('subquery: not supported');
  }
}
