/**
 * A tiny DOM builder: elements from tag, attributes and children. Text always goes in as text
 * nodes (never innerHTML), so account ids, event ids and payloads cannot inject markup.
 */

export type Child = Node | string | number | bigint | null | undefined | false | readonly Child[];
type AttrValue = string | number | boolean | null | undefined | ((ev: never) => void);
export type Attrs = Record<string, AttrValue>;

export function append(parent: Node, children: readonly Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else if (c instanceof Node) parent.appendChild(c);
    else parent.appendChild(document.createTextNode(String(c)));
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs | null = null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v as EventListener);
    else if (k === 'value') (el as HTMLInputElement).value = String(v);
    else if (k === 'checked') (el as HTMLInputElement).checked = v === true;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function clear(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

let ids = 0;
/** A document-unique id for label/aria wiring. */
export function uid(prefix: string): string {
  return `${prefix}-${++ids}`;
}

/** A labelled form control: `<div class="field"><label for>…</label>control</div>`. */
export function field(label: string, control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): HTMLDivElement {
  control.id ||= uid('f');
  const hintEl = hint === undefined ? null : h('span', { class: 'hint', id: `${control.id}-hint` }, hint);
  if (hintEl !== null) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintEl);
}

export function select(name: string, options: readonly (readonly [value: string, label: string])[], value: string): HTMLSelectElement {
  return h('select', { name }, ...options.map(([v, l]) => h('option', { value: v, selected: v === value }, l)));
}

/** Announces a message to screen readers (and shows nothing). */
export function announce(message: string): void {
  const el = document.getElementById('announce');
  if (el === null) return;
  el.textContent = '';
  // A new text node after a tick, so the same message twice is announced twice.
  setTimeout(() => (el.textContent = message), 30);
}

/** An error box (role=alert) for a failed call. */
export function errorBox(err: unknown): HTMLElement {
  const msg = err instanceof Error ? err.message : String(err);
  return h('div', { class: 'error', role: 'alert' }, h('strong', null, 'Failed: '), msg);
}

export function spinner(what: string): HTMLElement {
  return h('p', { class: 'loading', role: 'status' }, `Loading ${what}…`);
}
