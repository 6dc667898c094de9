/**
 * The console's entry: learns who the key is (GET /v1/whoami; an open loopback server needs no
 * key), builds the navigation from the key's scopes, and renders the page the hash names. A 401
 * from any call brings the key form back.
 */
import { ApiError, get, sessionOf, storedKey, storeKey, UNAUTHORIZED_EVENT, type Session } from './api.ts';
import { announce, clear, errorBox, field, h } from './dom.ts';
import { accountPage } from './pages/account.ts';
import { accountsPage } from './pages/accounts.ts';
import { conflictsPage } from './pages/conflicts.ts';
import { jobsPage } from './pages/jobs.ts';
import { overviewPage } from './pages/overview.ts';
import { periodsPage } from './pages/periods.ts';
import { href, parseHash, type Page, type Route } from './router.ts';
import type { Scope, Whoami } from './types.ts';

interface Section {
  readonly key: string;
  readonly label: string;
  readonly scope: Scope;
  readonly page: Page;
}

const SECTIONS: readonly Section[] = [
  { key: 'overview', label: 'Overview', scope: 'read', page: overviewPage },
  { key: 'accounts', label: 'Accounts', scope: 'read', page: accountsPage },
  { key: 'periods', label: 'Periods', scope: 'read', page: periodsPage },
  { key: 'conflicts', label: 'Conflicts', scope: 'admin', page: conflictsPage },
  { key: 'jobs', label: 'Jobs', scope: 'admin', page: jobsPage },
];

const main = document.getElementById('main')!;
const nav = document.getElementById('nav')!;
const who = document.getElementById('who')!;

let session: Session | null = null;
let leave: (() => void)[] = [];
let generation = 0;

function leaveView(): void {
  for (const fn of leave) {
    try {
      fn();
    } catch {
      // A cleanup that fails must not block the next view.
    }
  }
  leave = [];
}

function renderNav(current: string): void {
  const visible = SECTIONS.filter((s) => session?.can(s.scope) === true);
  clear(nav, ...visible.map((s) => h('li', null, h('a', { href: href([s.key]), 'aria-current': s.key === current ? 'page' : null }, s.label))));
}

function renderWho(w: Whoami): void {
  if (w.open) {
    clear(who, h('span', { class: 'who-name' }, 'Open server'), h('span', { class: 'who-scopes' }, 'loopback, no key needed'));
    return;
  }
  const forget = h('button', { type: 'button', class: 'link' }, 'Forget key');
  forget.addEventListener('click', () => {
    storeKey(null);
    session = null;
    signIn('The key was forgotten. Paste a key to continue.');
  });
  clear(
    who,
    h('span', { class: 'who-name' }, 'Key ', h('strong', null, w.name)),
    h('span', { class: 'who-scopes', 'data-testid': 'scopes' }, w.scopes.join(' · ')),
    forget,
  );
}

function defaultSection(): string {
  return session?.can('admin') === true ? 'overview' : 'accounts';
}

async function route(focus: boolean): Promise<void> {
  const r = parseHash(location.hash);
  if (r === null || session === null) return;
  leaveView();
  const mine = ++generation;
  const key = r.path[0] ?? defaultSection();
  const section = SECTIONS.find((s) => s.key === key);
  renderNav(section?.key ?? '');
  const routeFor: Route = r.path.length === 0 ? { path: [key], params: r.params } : r;
  const ctx = {
    root: main,
    route: routeFor,
    session,
    alive: () => mine === generation,
    onLeave: (fn: () => void) => leave.push(fn),
  };
  if (section === undefined) {
    clear(main, h('h1', { tabindex: -1 }, 'Not found'), h('p', null, 'No such page. ', h('a', { href: href([defaultSection()]) }, 'Go to the start page.')));
  } else if (!session.can(section.scope)) {
    clear(main, h('h1', { tabindex: -1 }, section.label), h('p', { class: 'note' }, `This page needs a key with the ${section.scope} scope.`));
  } else {
    const page = key === 'accounts' && r.path.length > 1 ? accountPage : section.page;
    const started = page(ctx).catch((err: unknown) => {
      if (ctx.alive()) clear(main, h('h1', { tabindex: -1 }, section.label), errorBox(err));
    });
    document.title = `${section.label} · usageDb console`;
    if (focus) main.querySelector<HTMLElement>('h1')?.focus();
    await started;
    return;
  }
  if (focus) main.querySelector<HTMLElement>('h1')?.focus();
}

function signIn(message?: string, error?: string): void {
  leaveView();
  generation++;
  clear(nav);
  clear(who);
  const input = h('input', { type: 'password', name: 'key', required: true, autocomplete: 'off', spellcheck: 'false' });
  const err = h('p', { class: 'field-error', role: 'alert', hidden: error === undefined }, error ?? '');
  const form = h(
    'form',
    { class: 'signin card', 'aria-labelledby': 'signin-h' },
    h('h1', { id: 'signin-h', tabindex: -1 }, 'Sign in'),
    message === undefined ? null : h('p', null, message),
    h(
      'p',
      { class: 'hint' },
      'Paste an API key from USAGEDB_API_KEYS. It is kept in this tab only (sessionStorage) and sent as a Bearer token; what its scopes cannot do is hidden.',
    ),
    field('API key', input),
    err,
    h('button', { type: 'submit' }, 'Use this key'),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    try {
      const w = await get<Whoami>('v1/whoami', { key });
      storeKey(key);
      start(w, true);
      announce(`Signed in as ${w.name}.`);
    } catch (e) {
      err.hidden = false;
      err.textContent = e instanceof ApiError && e.status === 401 ? 'This key is not known to the server.' : e instanceof Error ? e.message : String(e);
      input.focus();
    }
  });
  document.title = 'Sign in · usageDb console';
  clear(main, form);
  input.focus();
}

/** `focus`: move the focus to the page heading (after sign-in; not on a fresh load, where Tab must start at the skip link). */
function start(w: Whoami, focus: boolean): void {
  session = sessionOf(w);
  renderWho(w);
  if (parseHash(location.hash) === null) history.replaceState(null, '', href([defaultSection()]));
  void route(focus);
}

async function boot(): Promise<void> {
  window.addEventListener('hashchange', () => void route(true));
  window.addEventListener(UNAUTHORIZED_EVENT, () => {
    if (session === null) return;
    storeKey(null);
    session = null;
    signIn(undefined, 'The server no longer accepts this key. Paste a key to continue.');
  });
  try {
    start(await get<Whoami>('v1/whoami', { key: storedKey() }), false);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      storeKey(null);
      signIn();
    } else {
      clear(main, h('h1', null, 'usageDb console'), errorBox(err));
    }
  }
}

void boot();
