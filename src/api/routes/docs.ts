/**
 * GET /openapi.json (the OpenAPI 3.1 document) and GET /docs (that document rendered as one
 * self-contained HTML page: no scripts, no external resources, so it works on a closed network
 * and under a strict Content-Security-Policy). Both are public (see `scopeFor`).
 */
import type { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { buildOpenApi } from '../openapi.ts';

type Json = Record<string, unknown>;

const CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function docsRoutes(app: Hono<AppEnv>): void {
  app.get('/openapi.json', (c) => c.json(buildOpenApi(), 200, { 'Cache-Control': 'no-cache' }));
  app.get('/docs', (c) => c.html(docsHtml(), 200, { 'Content-Security-Policy': CSP, 'Cache-Control': 'no-cache' }));
}

let cachedHtml: string | undefined;

/** The /docs page (rendered once). */
export function docsHtml(): string {
  cachedHtml ??= renderDocs(buildOpenApi());
  return cachedHtml;
}

// ---------------------------------------------------------------------------------------------
// Rendering

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;
const SAFE_LIMIT = Number.MAX_SAFE_INTEGER;

function esc(v: unknown): string {
  return String(v).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** Escaped text with `code` spans and paragraphs. */
function prose(text: unknown): string {
  if (typeof text !== 'string' || text === '') return '';
  return text
    .split(/\n{2,}/)
    .map((p) => `<p>${esc(p).replace(/`([^`]+)`/g, '<code>$1</code>')}</p>`)
    .join('');
}

function obj(v: unknown): Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function anchor(kind: string, name: string): string {
  return `${kind}-${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

function pretty(value: unknown): string {
  return `<pre>${esc(typeof value === 'string' ? value : JSON.stringify(value, null, 2))}</pre>`;
}

function refName(ref: string): string {
  return ref.slice(ref.lastIndexOf('/') + 1);
}

/** Constraints of a schema as short text: enum, pattern, lengths, ranges, default. */
function constraints(s: Json): string[] {
  const out: string[] = [];
  if (s.const !== undefined) out.push(`= ${JSON.stringify(s.const)}`);
  if (Array.isArray(s.enum)) out.push(`one of ${s.enum.map((e) => JSON.stringify(e)).join(', ')}`);
  if (typeof s.pattern === 'string') out.push(`pattern ${s.pattern}`);
  if (typeof s.format === 'string') out.push(`format ${s.format}`);
  if (s.minLength !== undefined) out.push(`min length ${String(s.minLength)}`);
  if (s.maxLength !== undefined) out.push(`max length ${String(s.maxLength)}`);
  if (typeof s.minimum === 'number' && Math.abs(s.minimum) < SAFE_LIMIT) out.push(`≥ ${s.minimum}`);
  if (typeof s.exclusiveMinimum === 'number') out.push(`> ${s.exclusiveMinimum}`);
  if (typeof s.maximum === 'number' && Math.abs(s.maximum) < SAFE_LIMIT) out.push(`≤ ${s.maximum}`);
  if (s.maxItems !== undefined) out.push(`at most ${String(s.maxItems)} items`);
  if (s.default !== undefined) out.push(`default ${JSON.stringify(s.default)}`);
  return out;
}

/** A schema as readable HTML: links for $refs, tables for objects, lists for unions. */
function schemaHtml(schema: unknown, depth = 0): string {
  const s = obj(schema);
  if (typeof s.$ref === 'string') {
    const name = refName(s.$ref);
    return `<a class="ref" href="#${anchor('schema', name)}">${esc(name)}</a>`;
  }
  if (depth > 6) return '<em>…</em>';
  const variants = arr(s.anyOf ?? s.oneOf);
  const note = constraints(s);
  const notes = note.length > 0 ? ` <span class="c">${esc(note.join('; '))}</span>` : '';
  if (variants.length > 0) {
    const nonNull = variants.filter((v) => obj(v).type !== 'null');
    const nullable = nonNull.length < variants.length ? ' <span class="c">or null</span>' : '';
    if (nonNull.length === 1) return schemaHtml(nonNull[0], depth) + nullable;
    return `<span class="t">one of</span>${nullable}<ol class="alt">${nonNull.map((v) => `<li>${schemaHtml(v, depth + 1)}</li>`).join('')}</ol>`;
  }
  const type = Array.isArray(s.type) ? s.type.join(' | ') : typeof s.type === 'string' ? s.type : s.properties !== undefined ? 'object' : 'any';
  if (type === 'array') return `<span class="t">array of</span> ${schemaHtml(s.items ?? {}, depth + 1)}${notes}`;
  if (type === 'object') {
    const props = obj(s.properties);
    const required = new Set(arr(s.required).map(String));
    const rows = Object.entries(props).map(
      ([name, p]) =>
        `<tr><td><code>${esc(name)}</code>${required.has(name) ? ' <span class="req">required</span>' : ''}</td><td>${schemaHtml(p, depth + 1)}</td><td>${prose(obj(p).description)}</td></tr>`,
    );
    const extra = s.additionalProperties;
    if (extra !== undefined && extra !== false && extra !== true) {
      const keys = s.propertyNames === undefined ? 'string' : schemaHtml(s.propertyNames, depth + 1);
      rows.push(`<tr><td><em>any other key</em> (${keys})</td><td>${schemaHtml(extra, depth + 1)}</td><td></td></tr>`);
    }
    if (rows.length === 0) return `<span class="t">object</span>${notes}`;
    return `<span class="t">object</span>${notes}<table class="fields"><thead><tr><th>field</th><th>type</th><th>description</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
  }
  return `<span class="t">${esc(type)}</span>${notes}`;
}

function examplesHtml(media: Json): string {
  const out: string[] = [];
  for (const [name, ex] of Object.entries(obj(media.examples))) {
    const e = obj(ex);
    out.push(`<details class="ex" open><summary>Example: ${esc(typeof e.summary === 'string' ? e.summary : name)}</summary>${pretty(e.value)}</details>`);
  }
  if (media.example !== undefined) out.push(`<details class="ex" open><summary>Example</summary>${pretty(media.example)}</details>`);
  return out.join('');
}

function contentHtml(content: unknown): string {
  return Object.entries(obj(content))
    .map(([type, m]) => {
      const media = obj(m);
      return `<div class="media"><div class="mt">${esc(type)}</div>${schemaHtml(media.schema)}${examplesHtml(media)}</div>`;
    })
    .join('');
}

function operationHtml(method: string, path: string, op: Json): string {
  const id = anchor('op', typeof op.operationId === 'string' ? op.operationId : `${method}${path}`);
  const security = arr(op.security);
  const scopes = security.flatMap((req) => Object.values(obj(req)).flatMap((v) => arr(v).map(String)));
  const auth =
    security.length === 0
      ? '<span class="pub">public</span>'
      : `<span class="scope">Bearer key, scope: ${scopes.map((s) => `<code>${esc(s)}</code>`).join(', ')}</span>`;
  const parts: string[] = [
    `<section class="op" id="${id}"><h3><span class="m ${esc(method)}">${esc(method.toUpperCase())}</span> <code class="path">${esc(path)}</code></h3>`,
    `<p class="summary">${esc(op.summary ?? '')} — ${auth}</p>`,
    prose(op.description),
  ];
  const params = arr(op.parameters).map(obj);
  if (params.length > 0) {
    parts.push(
      '<h4>Parameters</h4><table class="params"><thead><tr><th>name</th><th>in</th><th>type</th><th>description</th><th>example</th></tr></thead><tbody>',
    );
    for (const p of params) {
      parts.push(
        `<tr><td><code>${esc(p.name)}</code>${p.required === true ? ' <span class="req">required</span>' : ''}</td><td>${esc(p.in)}</td><td>${schemaHtml(p.schema)}</td><td>${prose(p.description)}</td><td>${p.example === undefined ? '' : `<code>${esc(typeof p.example === 'string' ? p.example : JSON.stringify(p.example))}</code>`}</td></tr>`,
      );
    }
    parts.push('</tbody></table>');
  }
  const body = obj(op.requestBody);
  if (body.content !== undefined) {
    parts.push(
      `<h4>Request body ${body.required === true ? '<span class="req">required</span>' : '<span class="c">optional</span>'}</h4>${prose(body.description)}${contentHtml(body.content)}`,
    );
  }
  parts.push('<h4>Responses</h4>');
  for (const [status, r] of Object.entries(obj(op.responses))) {
    const res = obj(r);
    const headers = Object.keys(obj(res.headers));
    parts.push(
      `<div class="resp"><div class="st s${esc(status.charAt(0))}">${esc(status)}</div><div class="rb">${prose(res.description)}${headers.length > 0 ? `<p class="c">Headers: ${headers.map((h) => `<code>${esc(h)}</code>`).join(', ')}</p>` : ''}${contentHtml(res.content)}</div></div>`,
    );
  }
  parts.push('</section>');
  return parts.join('\n');
}

const STYLE = `
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#fafbfc}
main{max-width:1100px;margin:0 auto;padding:1.5rem 2rem 4rem}
h1{margin:.2em 0}h2{border-bottom:2px solid #d8dde6;padding-bottom:.2em;margin-top:2.5em}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
pre{background:#f0f2f5;border:1px solid #dde1e7;border-radius:4px;padding:.6em .8em;overflow-x:auto;white-space:pre-wrap;word-break:break-word}
table{border-collapse:collapse;width:100%;margin:.4em 0}th,td{border:1px solid #dde1e7;padding:.3em .5em;text-align:left;vertical-align:top}th{background:#eef1f5}
td p{margin:0}.op{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:.5em 1.2em 1em;margin:1.5em 0}
.m{display:inline-block;min-width:4.2em;text-align:center;border-radius:4px;color:#fff;padding:.1em .4em;font-size:13px}
.m.get{background:#2f7d4f}.m.post{background:#2d5fa8}.m.put,.m.patch{background:#9a6a12}.m.delete{background:#a33}
.path{font-size:15px}.req{color:#a33;font-size:12px}.c{color:#5b6473;font-size:13px}.t{font-family:ui-monospace,monospace;color:#6b3fa0}
.pub{color:#2f7d4f}.scope{color:#7a4b00}.resp{display:flex;gap:.8em;border-top:1px dashed #dde1e7;padding:.5em 0}
.st{font-weight:bold;min-width:3em}.s2{color:#2f7d4f}.s4{color:#a85d00}.s5{color:#a33}.rb{flex:1;min-width:0}
.media{margin:.4em 0}.mt{font-size:12px;color:#5b6473}.ex summary{cursor:pointer;color:#2d5fa8;font-size:13px}
ol.alt{margin:.2em 0;padding-left:1.4em}nav ul{list-style:none;padding-left:.5em}nav li{margin:.25em 0}a.ref{font-family:ui-monospace,monospace}
`;

/** The whole page from an OpenAPI document. */
export function renderDocs(doc: Record<string, unknown>): string {
  const info = obj(doc.info);
  const paths = obj(doc.paths);
  const tags = arr(doc.tags).map(obj);
  const ops: { tag: string; method: string; path: string; op: Json }[] = [];
  for (const [path, item] of Object.entries(paths)) {
    for (const method of METHODS) {
      const op = obj(item)[method];
      if (op !== undefined) ops.push({ tag: String(arr(obj(op).tags)[0] ?? 'other'), method, path, op: obj(op) });
    }
  }
  const tagNames = [...tags.map((t) => String(t.name)), ...ops.map((o) => o.tag)].filter((t, i, all) => all.indexOf(t) === i);
  const toc = tagNames
    .map((t) => {
      const items = ops
        .filter((o) => o.tag === t)
        .map(
          (o) =>
            `<li><a href="#${anchor('op', String(o.op.operationId ?? o.method + o.path))}"><span class="m ${esc(o.method)}">${esc(o.method.toUpperCase())}</span> <code>${esc(o.path)}</code></a> <span class="c">${esc(o.op.summary ?? '')}</span></li>`,
        );
      return items.length === 0 ? '' : `<li><strong>${esc(t)}</strong><ul>${items.join('')}</ul></li>`;
    })
    .join('');
  const sections = tagNames.map((t) => {
    const tag = tags.find((x) => x.name === t);
    const mine = ops.filter((o) => o.tag === t);
    if (mine.length === 0) return '';
    return `<h2 id="${anchor('tag', t)}">${esc(t)}</h2>${prose(tag?.description)}${mine.map((o) => operationHtml(o.method, o.path, o.op)).join('\n')}`;
  });
  const schemas = Object.entries(obj(obj(doc.components).schemas)).map(
    ([name, s]) =>
      `<section class="op" id="${anchor('schema', name)}"><h3><code>${esc(name)}</code></h3>${prose(obj(s).description)}${schemaHtml(s)}<details><summary class="c">JSON Schema</summary>${pretty(s)}</details></section>`,
  );
  const title = `${String(info.title ?? 'API')} API`;
  return [
    '<!doctype html>',
    `<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(title)}</title><style>${STYLE}</style></head><body><main>`,
    `<h1>${esc(title)} <span class="c">${esc(info.version ?? '')} · OpenAPI ${esc(doc.openapi ?? '')}</span></h1>`,
    typeof info.summary === 'string' ? `<p><strong>${esc(info.summary)}</strong></p>` : '',
    prose(info.description),
    '<p>Machine-readable: <a href="openapi.json"><code>/openapi.json</code></a>.</p>',
    `<nav><h2>Operations</h2><ul>${toc}</ul><p><a href="#schemas">Schemas</a></p></nav>`,
    ...sections,
    `<h2 id="schemas">Schemas</h2>${schemas.join('\n')}`,
    '</main></body></html>',
  ].join('\n');
}
