/**
 * Holds the client to the server's OpenAPI document (built by the server's own builder): every
 * documented route is in the client's route table and the other way round, with the same method,
 * operationId, path and query parameters, body and answer schema; and every type in
 * src/client/types.ts matches its component schema structurally (read by the TypeScript checker).
 */
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type ts from 'typescript';
import { buildOpenApi } from '../../src/api/openapi.ts';
import { ROUTES, type RouteSpec } from '../../src/client/routes.ts';
import { compareShapes, exportedTypes, schemaShape, typeShape, type Shape } from './schema-shapes.ts';

type Json = Record<string, unknown>;

const doc = buildOpenApi() as Json;
const components = (doc.components as Json).schemas as Record<string, Json>;
const paths = doc.paths as Record<string, Record<string, Json>>;
const typesFile = fileURLToPath(new URL('../../src/client/types.ts', import.meta.url));

let checker: ts.TypeChecker;
let types: Map<string, ts.Type>;
beforeAll(() => {
  ({ checker, types } = exportedTypes(typesFile));
}, 30_000);

function clientShape(name: string): Shape {
  const t = types.get(name);
  if (t === undefined) throw new Error(`src/client/types.ts exports no type ${name}`);
  return typeShape(checker, t);
}

const refName = (schema: Json | undefined): string | undefined =>
  typeof schema?.$ref === 'string' ? schema.$ref.replace('#/components/schemas/', '') : undefined;

const routes = Object.entries(ROUTES) as [string, RouteSpec][];

describe('client types match the OpenAPI component schemas', () => {
  it('Schemas lists exactly the components', () => {
    const listed = typeShape(checker, types.get('Schemas')!);
    expect(listed.k).toBe('object');
    expect(Object.keys((listed as Extract<Shape, { k: 'object' }>).props).sort()).toEqual(Object.keys(components).sort());
  });

  it.each(Object.keys(components))('%s', (name) => {
    expect(compareShapes(schemaShape(components[name]!, doc), clientShape(name))).toEqual([]);
  });

  it('the comparison catches a renamed, a retyped and an optional field', () => {
    const result = structuredClone(components.IngestResult!) as { properties: Json; required: string[] };
    result.properties.accepted_count = result.properties.accepted;
    delete result.properties.accepted;
    result.properties.duplicates = { type: 'string' };
    result.required = result.required.filter((r) => r !== 'conflicts');
    expect(compareShapes(schemaShape(result, doc), clientShape('IngestResult'))).toEqual([
      '$.accepted_count: missing in the client type',
      '$.accepted: not in the schema',
      '$.duplicates: schema string, client number',
      '$.conflicts: optional in the schema, required in the client',
    ]);
    const kinds = structuredClone(components.AuditRow!) as { properties: Record<string, Json> };
    kinds.properties.kind = { type: 'string', enum: ['Usage', 'Correction'] };
    expect(compareShapes(schemaShape(kinds, doc), clientShape('AuditRow'))).toEqual([
      '$.kind: schema enum(Correction|Usage), client enum(Correction|Retraction|Usage)',
    ]);
  });
});

describe('client routes match the OpenAPI paths', () => {
  it('every documented operation is in the client route table, and nothing else', () => {
    const documented = Object.entries(paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => `${method.toUpperCase()} ${path} ${String(op.operationId)}`),
    );
    const client = routes.map(([id, r]) => `${r.method} ${r.path} ${id}`);
    expect(client.sort()).toEqual(documented.sort());
  });

  it.each(routes)('%s: parameters, body and answer', (id, route) => {
    const op = paths[route.path]?.[route.method.toLowerCase()];
    expect(op, `${route.method} ${route.path}`).toBeDefined();
    expect(op!.operationId).toBe(id);

    const params = (op!.parameters as { name: string; in: string; required: boolean }[] | undefined) ?? [];
    const pathParams = [...route.path.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]!);
    expect(
      params
        .filter((p) => p.in === 'path')
        .map((p) => p.name)
        .sort(),
    ).toEqual(pathParams.sort());
    const query = params.filter((p) => p.in === 'query').map((p) => `${p.name}${p.required ? '' : '?'}`);
    if (route.query === undefined) expect(query).toEqual([]);
    else {
      const shape = clientShape(route.query);
      expect(shape.k).toBe('object');
      const props = (shape as Extract<Shape, { k: 'object' }>).props;
      expect(
        Object.entries(props)
          .map(([n, p]) => `${n}${p.optional ? '?' : ''}`)
          .sort(),
      ).toEqual(query.sort());
    }

    const body = op!.requestBody as { content: Record<string, { schema: Json }> } | undefined;
    expect(refName(body?.content['application/json']?.schema)).toBe(route.body);

    const ok = (op!.responses as Record<string, { content: Record<string, { schema: Json }> }>)['200']!.content;
    if (route.response === 'text') expect(ok['application/json']).toBeUndefined();
    else if (route.response === 'json') expect(refName(ok['application/json']!.schema)).toBeUndefined();
    else expect(refName(ok['application/json']!.schema)).toBe(route.response);
  });
});
