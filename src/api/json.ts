/**
 * Request JSON: parsing with errors that name the body instead of a parser stack, and strict
 * validation against a zod schema. Every JSON body is a strict object (issue 16 item 7): a field
 * the route does not know is a 400 naming it (`acount_id: unknown field`), never ignored, since a
 * typo that is ignored silently widens a query or drops an option.
 */
import type { z } from 'zod';
import { ValidationError } from '../errors.ts';

export async function readJson(req: Request): Promise<unknown> {
  const text = await req.text();
  if (text.trim() === '') throw new ValidationError('body: is empty; send a JSON object', 'body');
  return parseJsonText(text);
}

export function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ValidationError('body: is not valid JSON', 'body');
  }
}

export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Refuses own keys of `body` outside `known`: `<key>: unknown field; known fields: …`. Checks
 * own keys (JSON.parse makes `__proto__` an own key, so it is refused like any other).
 */
export function rejectUnknownFields(body: Record<string, unknown>, known: readonly string[], path = ''): void {
  const unknown = Object.keys(body).filter((k) => !known.includes(k));
  if (unknown.length === 0) return;
  throw unknownFields(
    unknown.map((k) => path + k),
    known,
  );
}

function unknownFields(names: readonly string[], known: readonly string[] | undefined): ValidationError {
  const shown = names.map((n) => n.slice(0, 64));
  const message = `${shown.join(', ')}: unknown field${names.length > 1 ? 's' : ''}${known === undefined ? '' : `; known fields: ${known.join(', ') || 'none'}`}`;
  return new ValidationError(message, shown[0]!, { unknown_fields: shown });
}

/**
 * Parses `raw` with a strict zod schema and turns the first issue into a 400 whose message starts
 * with the field's path (`order_by.0.dir: unknown field`, `limit: ...`).
 */
export function parseStrict<S extends z.ZodType>(schema: S, raw: unknown, what = 'a JSON object'): z.infer<S> {
  if (!isJsonObject(raw)) throw new ValidationError(`body: must be ${what}`, 'body');
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  // An unknown field first: it is usually the typo behind the other issues (`keap` → `keep` missing).
  const issue = parsed.error.issues.find((i) => i.code === 'unrecognized_keys') ?? parsed.error.issues[0]!;
  const prefix = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const names = issue.keys.map((k) => (prefix === '' ? k : `${prefix}.${k}`));
    throw unknownFields(names, prefix === '' ? topLevelKeys(schema) : undefined);
  }
  const field = prefix || 'body';
  throw new ValidationError(`${field}: ${messageOf(issue)}`, field);
}

/** A union whose every branch refused the type says which types it takes. */
function messageOf(issue: z.core.$ZodIssue): string {
  if (issue.code !== 'invalid_union') return issue.message;
  const expected = issue.errors.map((branch) => (branch.length === 1 && branch[0]!.code === 'invalid_type' ? branch[0]!.expected : undefined));
  if (expected.some((e) => e === undefined)) return issue.message;
  return `Invalid input: expected ${[...new Set(expected)].join(' or ')}`;
}

/** The declared keys of an object schema (for the "known fields" hint), if it is one. */
function topLevelKeys(schema: z.ZodType): readonly string[] | undefined {
  const shape = (schema as unknown as { shape?: Record<string, unknown> }).shape;
  return shape === undefined ? undefined : Object.keys(shape);
}
