/**
 * Conflicts: the same event_id stored with different payloads (GET /v1/admin/conflicts), each
 * comparable side by side with the differing fields marked. Resolving appears only when the
 * server's OpenAPI document offers POST /v1/admin/conflicts/{id}/resolve: the form is built from
 * that operation's request body schema, so the console needs no change when the route lands.
 */
import { accountPath, get, openApiDocument, post, type Session } from '../api.ts';
import { announce, clear, errorBox, field, h, spinner, uid } from '../dom.ts';
import { utc } from '../format.ts';
import { href, withParams, type PageContext } from '../router.ts';
import type { AuditRow, Conflict, ConflictList, EventRows, Scope } from '../types.ts';
import { actionButton, confirmDialog, facts, section } from '../widgets.ts';

const PAGE = 20;
type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {});

export interface ResolveOperation {
  /** The path template, e.g. /v1/admin/conflicts/{id}/resolve. */
  readonly path: string;
  readonly param: string;
  /** The JSON request body schema (refs resolved one level), if any. */
  readonly body: Json | null;
  readonly required: readonly string[];
  readonly scopes: readonly string[];
}

/** The resolve operation the server documents, or null while it has none. */
export function findResolveOperation(doc: Json): ResolveOperation | null {
  const schemas = obj(obj(doc.components).schemas);
  const deref = (s: unknown): Json => {
    const o = obj(s);
    return typeof o.$ref === 'string' ? obj(schemas[o.$ref.slice(o.$ref.lastIndexOf('/') + 1)]) : o;
  };
  for (const [path, item] of Object.entries(obj(doc.paths))) {
    const m = /^\/v1\/admin\/conflicts\/\{([^}]+)\}\/resolve$/.exec(path);
    const op = obj(obj(item).post);
    if (m === null || Object.keys(op).length === 0) continue;
    const schema = deref(obj(obj(obj(op.requestBody).content)['application/json']).schema);
    const security = Array.isArray(op.security) ? op.security : [];
    const scopes = security.flatMap((r) => Object.values(obj(r)).flatMap((v) => (Array.isArray(v) ? v.map(String) : [])));
    return {
      path,
      param: m[1]!,
      body: Object.keys(schema).length === 0 ? null : schema,
      required: Array.isArray(schema.required) ? schema.required.map(String) : [],
      scopes,
    };
  }
  return null;
}

function canCall(session: Session, op: ResolveOperation): boolean {
  return op.scopes.every((s) => session.can(s as Scope));
}

/** Form controls for the body schema's properties: enums as selects, booleans as checkboxes, the rest as text. */
function bodyForm(op: ResolveOperation): { controls: HTMLElement[]; value: () => Json } {
  const props = Object.entries(obj(op.body?.properties));
  const readers: (() => [string, unknown] | null)[] = [];
  const controls = props.map(([name, raw]) => {
    const p = obj(raw);
    const label = `${name}${typeof p.description === 'string' ? ` — ${p.description}` : ''}`;
    const required = op.required.includes(name);
    if (Array.isArray(p.enum)) {
      const sel = h(
        'select',
        { name, required },
        required ? null : h('option', { value: '' }, '(none)'),
        ...p.enum.map((v) => h('option', { value: String(v) }, String(v))),
      );
      readers.push(() => (sel.value === '' ? null : [name, sel.value]));
      return field(label, sel);
    }
    if (p.type === 'boolean') {
      const box = h('input', { type: 'checkbox', name, id: uid('b') });
      readers.push(() => [name, box.checked]);
      return h('div', { class: 'check' }, box, h('label', { for: box.id }, label));
    }
    const input = p.type === 'integer' || p.type === 'number' ? h('input', { type: 'number', name, required }) : h('textarea', { name, rows: 2, required });
    readers.push(() => (input.value === '' ? null : [name, p.type === 'integer' || p.type === 'number' ? Number(input.value) : input.value]));
    return field(label, input);
  });
  return { controls, value: () => Object.fromEntries(readers.map((r) => r()).filter((x): x is [string, unknown] => x !== null)) };
}

const FIELDS: readonly (keyof AuditRow)[] = [
  'kind',
  'product_id',
  'meter_id',
  'model_id',
  'source',
  'unit',
  'subscription_id',
  'timestamp_ms',
  'quantity',
  'dimensions',
  'correction_ref',
  'ingested_at_ms',
  'segment_id',
];
/** Where and when a row was stored: expected to differ, not part of the payload. */
const STORAGE: ReadonlySet<keyof AuditRow> = new Set(['ingested_at_ms', 'segment_id']);

function show(v: unknown): string {
  return v === null || v === undefined ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** The stored rows as columns, one line per field; differing fields are marked (not by colour alone). */
function sideBySide(rows: readonly AuditRow[]): HTMLElement {
  const differs = (f: keyof AuditRow) => new Set(rows.map((r) => show(r[f]))).size > 1;
  return h(
    'div',
    { class: 'table-wrap', role: 'region', 'aria-label': 'Stored payloads side by side', tabindex: 0 },
    h(
      'table',
      { class: 'compare', 'data-testid': 'payloads' },
      h('caption', null, `${rows.length} stored payloads of ${rows[0]?.event_id ?? ''}`),
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', { scope: 'col' }, 'Field'),
          ...rows.map((r, i) => h('th', { scope: 'col' }, `Payload ${i + 1} (ingested ${utc(r.ingested_at_ms)})`)),
        ),
      ),
      h(
        'tbody',
        null,
        ...FIELDS.map((f) => {
          const d = !STORAGE.has(f) && differs(f);
          return h(
            'tr',
            { class: d ? 'diff' : null },
            h('th', { scope: 'row' }, f, d ? h('span', { class: 'diff-mark' }, ' ≠ differs') : null),
            ...rows.map((r) => h('td', null, f === 'timestamp_ms' || f === 'ingested_at_ms' ? `${show(r[f])} (${utc(r[f] as number)})` : show(r[f]))),
          );
        }),
      ),
    ),
  );
}

export async function conflictsPage(ctx: PageContext): Promise<void> {
  const { root, route, session } = ctx;
  const head = h('div', { class: 'page-head' }, h('h1', { tabindex: -1 }, 'Conflicts'));
  const intro = h(
    'p',
    { class: 'hint' },
    'Events stored twice with different payloads (possible only past the dedupe window), as compaction found them: the first copy counts, the later one is quarantined — out of every total — until you resolve it. Also ids used under two accounts (two events, both counted).',
  );
  const body = h('div', { class: 'stack' }, spinner('the conflicts'));
  clear(root, head, intro, body);
  if (!session.can('admin')) {
    clear(body, h('p', { class: 'note' }, 'Conflicts need a key with the admin scope.'));
    return;
  }
  try {
    const [list, doc] = await Promise.all([get<ConflictList>('v1/admin/conflicts'), openApiDocument().catch(() => ({}))]);
    if (!ctx.alive()) return;
    const resolveOp = findResolveOperation(doc);
    const all = [...list.conflicts].sort((a, b) => b.found_at_ms - a.found_at_ms);
    const pages = Math.max(1, Math.ceil(all.length / PAGE));
    const page = Math.min(pages, Math.max(1, Number(route.params.get('page') ?? '1') || 1));
    const shown = all.slice((page - 1) * PAGE, page * PAGE);
    const note =
      resolveOp === null
        ? h(
            'p',
            { class: 'note', 'data-testid': 'resolve-note' },
            'This server has no resolve route yet: settle a conflict by ingesting a Correction or Retraction for the payload that should not count.',
          )
        : canCall(session, resolveOp)
          ? null
          : h('p', { class: 'note' }, `Resolving needs the ${resolveOp.scopes.join(', ')} scope.`);

    const detailRow = (c: Conflict): HTMLElement[] => {
      const panelId = uid('payloads');
      const panel = h('div', { id: panelId, class: 'panel', hidden: true });
      const compare = h('button', { type: 'button', class: 'secondary', 'aria-expanded': 'false', 'aria-controls': panelId }, 'Compare payloads');
      compare.addEventListener('click', async () => {
        const open = compare.getAttribute('aria-expanded') === 'true';
        compare.setAttribute('aria-expanded', String(!open));
        panel.hidden = open;
        if (open || panel.childElementCount > 0) return;
        clear(panel, spinner('the payloads'));
        try {
          const rows = await get<EventRows>(accountPath(c.account_id, 'usage', 'events', c.event_id));
          clear(panel, sideBySide(rows.rows));
        } catch (err) {
          clear(panel, errorBox(err));
        }
      });
      const resolve =
        resolveOp !== null && canCall(session, resolveOp)
          ? actionButton('Resolve…', async () => {
              const form = bodyForm(resolveOp);
              const ok = await confirmDialog({
                title: `Resolve the conflict on ${c.event_id}?`,
                body: h('div', null, h('p', null, `Account ${c.account_id}, shard ${c.shard}.`), ...form.controls),
                confirmLabel: 'Resolve',
              });
              if (ok === null) return;
              const id = String((c as Json)[resolveOp.param] ?? (c as Json).id ?? c.event_id);
              const path = resolveOp.path.replace(`{${resolveOp.param}}`, encodeURIComponent(id)).replace(/^\//, '');
              try {
                await post(path, resolveOp.body === null ? undefined : form.value());
                announce(`Conflict on ${c.event_id} resolved.`);
                location.hash = withParams(route, { t: Date.now() });
              } catch (err) {
                clear(panel, errorBox(err));
                panel.hidden = false;
              }
            })
          : null;
      return [h('div', { class: 'toolbar' }, compare, resolve), panel];
    };

    clear(
      body,
      note,
      section(
        `${all.length} conflict${all.length === 1 ? '' : 's'}`,
        shown.length === 0
          ? h('p', { class: 'empty' }, 'No conflicts. Compaction lists them here when it finds any.')
          : h(
              'ul',
              { class: 'conflicts', 'aria-label': 'Conflicts, newest first', 'data-testid': 'conflicts' },
              ...shown.map((c) =>
                h(
                  'li',
                  { class: 'conflict' },
                  h('h3', null, 'Event ', h('code', null, c.event_id)),
                  facts([
                    ['Account', h('a', { href: href(['accounts', c.account_id]) }, c.account_id)],
                    ['Shard', String(c.shard)],
                    ['Found', utc(c.found_at)],
                    [
                      'Earlier segments',
                      c.segments.length === 0 ? 'none (both rows arrived in one compaction)' : c.segments.map((x) => x.slice(-8)).join(', '),
                    ],
                  ]),
                  ...detailRow(c),
                ),
              ),
            ),
        pages > 1
          ? h(
              'nav',
              { class: 'pager', 'aria-label': 'Conflict pages' },
              page > 1 ? h('a', { class: 'button secondary', href: withParams(route, { page: page - 1 }) }, '← Previous') : null,
              h('span', null, `Page ${page} of ${pages}`),
              page < pages ? h('a', { class: 'button secondary', href: withParams(route, { page: page + 1 }) }, 'Next →') : null,
            )
          : null,
      ),
    );
  } catch (err) {
    if (ctx.alive()) clear(body, errorBox(err));
  }
}
