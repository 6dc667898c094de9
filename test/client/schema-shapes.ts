/**
 * Structural shapes of JSON Schemas (as /openapi.json has them) and of TypeScript types (read by
 * the TypeScript checker), and a comparison naming every difference by path: property names,
 * optionality, nullability, string enums, arrays, records. Used to hold src/client/types.ts to the
 * server's schemas.
 */
import ts from 'typescript';

export type Shape =
  | { readonly k: 'string'; readonly enum?: readonly string[] }
  | { readonly k: 'number' }
  | { readonly k: 'boolean' }
  | { readonly k: 'null' }
  | { readonly k: 'unknown' }
  | { readonly k: 'array'; readonly items: Shape }
  | { readonly k: 'object'; readonly props: Readonly<Record<string, { readonly shape: Shape; readonly optional: boolean }>>; readonly extra?: Shape }
  | { readonly k: 'union'; readonly members: readonly Shape[] };

type Json = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// JSON Schema

export function schemaShape(schema: Json, doc: Json, seen: readonly string[] = []): Shape {
  const ref = schema.$ref;
  if (typeof ref === 'string') {
    const name = ref.replace('#/components/schemas/', '');
    if (seen.includes(name)) throw new Error(`recursive $ref ${name}`);
    const target = ((doc.components as Json).schemas as Json)[name] as Json | undefined;
    if (target === undefined) throw new Error(`unresolved $ref ${ref}`);
    return schemaShape(target, doc, [...seen, name]);
  }
  const alts = (schema.anyOf ?? schema.oneOf) as Json[] | undefined;
  if (alts !== undefined) return union(alts.map((s) => schemaShape(s, doc, seen)));
  if (Array.isArray(schema.type)) return union(schema.type.map((t) => schemaShape({ ...schema, type: t }, doc, seen)));
  switch (schema.type) {
    case 'string': {
      const values = schema.enum ?? (schema.const === undefined ? undefined : [schema.const]);
      return values === undefined ? { k: 'string' } : { k: 'string', enum: [...(values as string[])].sort() };
    }
    case 'integer':
    case 'number':
      return { k: 'number' };
    case 'boolean':
      return { k: 'boolean' };
    case 'null':
      return { k: 'null' };
    case 'array':
      return { k: 'array', items: schema.items === undefined ? { k: 'unknown' } : schemaShape(schema.items as Json, doc, seen) };
    case 'object':
    case undefined: {
      if (schema.type === undefined && schema.properties === undefined && schema.additionalProperties === undefined) return { k: 'unknown' };
      const required = new Set((schema.required as string[] | undefined) ?? []);
      const props: Record<string, { shape: Shape; optional: boolean }> = {};
      for (const [name, s] of Object.entries((schema.properties as Json | undefined) ?? {})) {
        props[name] = { shape: schemaShape(s as Json, doc, seen), optional: !required.has(name) };
      }
      const ap = schema.additionalProperties;
      const extra: Shape | undefined = ap === undefined || ap === false ? undefined : ap === true ? { k: 'unknown' } : schemaShape(ap as Json, doc, seen);
      return extra === undefined ? { k: 'object', props } : { k: 'object', props, extra };
    }
    default:
      throw new Error(`unsupported schema type ${String(schema.type)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// TypeScript

export function typeShape(checker: ts.TypeChecker, type: ts.Type, depth = 0): Shape {
  if (depth > 30) throw new Error(`type too deep: ${checker.typeToString(type)}`);
  const f = type.flags;
  if (f & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return { k: 'unknown' };
  if (type.isUnion()) return union(type.types.filter((t) => !(t.flags & ts.TypeFlags.Undefined)).map((t) => typeShape(checker, t, depth + 1)));
  if (type.isStringLiteral()) return { k: 'string', enum: [type.value] };
  if (f & ts.TypeFlags.String) return { k: 'string' };
  if (f & (ts.TypeFlags.Number | ts.TypeFlags.NumberLiteral)) return { k: 'number' };
  if (f & (ts.TypeFlags.Boolean | ts.TypeFlags.BooleanLiteral)) return { k: 'boolean' };
  if (f & ts.TypeFlags.Null) return { k: 'null' };
  if (checker.isArrayType(type)) {
    const [item] = checker.getTypeArguments(type as ts.TypeReference);
    return { k: 'array', items: item === undefined ? { k: 'unknown' } : typeShape(checker, item, depth + 1) };
  }
  if (f & (ts.TypeFlags.Object | ts.TypeFlags.Intersection)) {
    const props: Record<string, { shape: Shape; optional: boolean }> = {};
    for (const p of checker.getPropertiesOfType(type)) {
      props[p.name] = { shape: typeShape(checker, checker.getTypeOfSymbol(p), depth + 1), optional: (p.flags & ts.SymbolFlags.Optional) !== 0 };
    }
    const index = checker.getIndexInfosOfType(type).find((i) => i.keyType.flags & ts.TypeFlags.String);
    return index === undefined ? { k: 'object', props } : { k: 'object', props, extra: typeShape(checker, index.type, depth + 1) };
  }
  throw new Error(`unsupported type ${checker.typeToString(type)}`);
}

/** The exported types of one module, by name, through a TypeScript program. */
export function exportedTypes(file: string): { checker: ts.TypeChecker; types: Map<string, ts.Type> } {
  const program = ts.createProgram([file], {
    strict: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    allowImportingTsExtensions: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  });
  const source = program.getSourceFile(file);
  if (source === undefined) throw new Error(`cannot read ${file}`);
  const diagnostics = ts.getPreEmitDiagnostics(program, source);
  if (diagnostics.length > 0) throw new Error(ts.flattenDiagnosticMessageText(diagnostics[0]!.messageText, '\n'));
  const checker = program.getTypeChecker();
  const types = new Map<string, ts.Type>();
  for (const sym of checker.getExportsOfModule(checker.getSymbolAtLocation(source)!)) types.set(sym.name, checker.getDeclaredTypeOfSymbol(sym));
  return { checker, types };
}

// ---------------------------------------------------------------------------------------------
// Comparison

/** Flattens nested unions, merges string members (plain string absorbs enums), dedupes. */
function union(members: readonly Shape[]): Shape {
  const flat = members.flatMap((m) => (m.k === 'union' ? m.members : [m]));
  const strings = flat.filter((m): m is Extract<Shape, { k: 'string' }> => m.k === 'string');
  const rest = flat.filter((m) => m.k !== 'string');
  const out: Shape[] = [];
  if (strings.length > 0) {
    out.push(strings.some((s) => s.enum === undefined) ? { k: 'string' } : { k: 'string', enum: [...new Set(strings.flatMap((s) => s.enum!))].sort() });
  }
  const seen = new Set<string>();
  for (const m of rest) {
    const c = canonical(m);
    if (!seen.has(c)) out.push(m);
    seen.add(c);
  }
  return out.length === 1 ? out[0]! : { k: 'union', members: out };
}

export function canonical(s: Shape): string {
  switch (s.k) {
    case 'string':
      return s.enum === undefined ? 'string' : `enum(${s.enum.join('|')})`;
    case 'array':
      return `${canonical(s.items)}[]`;
    case 'object': {
      const props = Object.keys(s.props)
        .sort()
        .map((n) => `${n}${s.props[n]!.optional ? '?' : ''}:${canonical(s.props[n]!.shape)}`);
      if (s.extra !== undefined) props.push(`[*]:${canonical(s.extra)}`);
      return `{${props.join(';')}}`;
    }
    case 'union':
      return s.members.map(canonical).sort().join(' | ');
    default:
      return s.k;
  }
}

const membersOf = (s: Shape): readonly Shape[] => (s.k === 'union' ? s.members : [s]);
const propNames = (s: Shape): string => (s.k === 'object' ? Object.keys(s.props).sort().join(',') : '');

/**
 * Differences between a schema shape and a client type shape, each prefixed by its path.
 * Index signatures: present on both sides or neither; their value types are compared only for
 * pure records (objects without named properties), since TypeScript needs a record with named
 * properties to widen its index type to cover them.
 */
export function compareShapes(schema: Shape, client: Shape, path = '$'): string[] {
  if (schema.k === 'union' || client.k === 'union') {
    const a = membersOf(schema);
    const b = [...membersOf(client)];
    if (a.length !== b.length)
      return [`${path}: schema has ${a.length} alternative(s) (${a.map(canonical).join(' | ')}), client ${b.length} (${b.map(canonical).join(' | ')})`];
    const diffs: string[] = [];
    for (const [i, m] of a.entries()) {
      const exact = b.findIndex((x) => canonical(x) === canonical(m));
      const j = exact >= 0 ? exact : b.findIndex((x) => x.k === m.k && propNames(x) === propNames(m));
      const k = j >= 0 ? j : b.findIndex((x) => x.k === m.k);
      if (k < 0) {
        diffs.push(`${path}|${i}: schema alternative ${canonical(m)} has no counterpart in the client`);
        continue;
      }
      diffs.push(...compareShapes(m, b[k]!, `${path}|${i}`));
      b.splice(k, 1);
    }
    return diffs;
  }
  if (schema.k !== client.k) return [`${path}: schema ${canonical(schema)}, client ${canonical(client)}`];
  switch (schema.k) {
    case 'string': {
      const c = client as typeof schema;
      return (schema.enum ?? []).join('|') === (c.enum ?? []).join('|') ? [] : [`${path}: schema ${canonical(schema)}, client ${canonical(c)}`];
    }
    case 'array':
      return compareShapes(schema.items, (client as typeof schema).items, `${path}[]`);
    case 'object': {
      const c = client as typeof schema;
      const diffs: string[] = [];
      for (const name of Object.keys(schema.props)) if (!(name in c.props)) diffs.push(`${path}.${name}: missing in the client type`);
      for (const name of Object.keys(c.props)) if (!(name in schema.props)) diffs.push(`${path}.${name}: not in the schema`);
      for (const [name, p] of Object.entries(schema.props)) {
        const q = c.props[name];
        if (q === undefined) continue;
        if (p.optional !== q.optional)
          diffs.push(`${path}.${name}: ${p.optional ? 'optional' : 'required'} in the schema, ${q.optional ? 'optional' : 'required'} in the client`);
        diffs.push(...compareShapes(p.shape, q.shape, `${path}.${name}`));
      }
      if ((schema.extra === undefined) !== (c.extra === undefined)) {
        diffs.push(
          `${path}: additional properties ${schema.extra === undefined ? 'not allowed' : 'allowed'} in the schema, ${c.extra === undefined ? 'no' : 'an'} index signature in the client`,
        );
      } else if (schema.extra !== undefined && c.extra !== undefined && Object.keys(schema.props).length === 0) {
        diffs.push(...compareShapes(schema.extra, c.extra, `${path}[*]`));
      }
      return diffs;
    }
    default:
      return [];
  }
}
