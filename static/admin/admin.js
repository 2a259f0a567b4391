// The admin page's shell: login, logout, the tab router, and what every tab uses.
//
// A tab is one module static/admin/<id>.js, named in TABS below, exporting
//   export const tab = {
//     id: 'audit', title: 'admin.audit.title',   // a catalogue key (static/i18n/admin/<lang>.json)
//     role: 'admin',                 // or 'moderator': the tab shows only to those who may use it
//     mount(panel) { ... },          // once, the first time it is shown: fill the empty <section>
//     show(panel) { ... },           // optional: each later time it is shown
//   };
// and builds its content with el() (DOM nodes, never HTML strings: the page's
// Content-Security-Policy allows no inline script, and text stays text), talks
// to /admin/api with api() (the CSRF token is sent for it), shows times
// with formatTime() (the viewer's time zone), a refusal with errorText(e), and
// its tables with grid().
//
// Its words are the chat page's mechanism (../i18n.js: the browser's language or
// the chat page's setting, t() and the catalogues, static/i18n/admin/<lang>.json
// named by index.html's data-catalogues); the static text of index.html carries
// data-i18n attributes, which i18n.js translates before the page is shown.

import { formatDateTime, formatNumber, lang, t } from '../i18n.js';
import { builtText, errorText } from '../refusals.js';

const TABS = [
  'audit',
  'moderation',
  'dashboard',
  'log',
  'rooms',
  'users',
];

const ROLES = { admin: ['admin', 'moderator'], moderator: ['moderator'] }; // each role and those it includes
const $ = (id) => document.getElementById(id);

let session = null; // {actor: {kind, id, name, roles}, csrf, expires} while signed in

/**
 * An error answer of the admin API: `status` (HTTP), `code` and `message` from its body,
 * `retryAfter` (seconds, from Retry-After; null without one), and the body's other fields, the
 * refusal's detail that errorText words (docs/protocol.md, "error").
 */
export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null, fields = {}) {
    super(message);
    Object.assign(this, fields);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/**
 * The words for a refused call (an ApiError): errorText's (built from its fields in every language;
 * else the server's message on an English page, the words for its code in another language), with
 * the wait the server named (Retry-After), which the code's words cannot say (the fields say it).
 */
export function refusal(e) {
  const built = builtText(e);
  if (built !== null) return built;
  const text = errorText(e);
  return e.retryAfter && lang() !== 'en' ? `${text} ${t('admin.retry_after', { seconds: formatNumber(e.retryAfter) })}` : text;
}

/**
 * Call the admin API: `path` below /admin/api ('/audit?limit=50'), `body` sent as JSON.
 * Resolves to the decoded JSON answer; rejects with ApiError. A 401 (the session
 * ended) brings the login form back.
 */
export async function api(method, path, body) {
  const headers = {};
  if (session) headers['X-CSRF-Token'] = session.csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(`/admin/api${path}`, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin', cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'offline', 'chatd cannot be reached'); // words: error.offline
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.ok) return data ?? {};
  const error = data?.error ?? { code: 'internal', message: `HTTP ${response.status}` };
  if (response.status === 401 && session) signedOut(t('admin.session_ended'));
  const wait = Number.parseInt(response.headers.get('Retry-After') ?? '', 10);
  const { code, message, ...fields } = error;
  throw new ApiError(response.status, code, message, Number.isNaN(wait) ? null : wait, fields);
}

/**
 * `api` for a view that may ask again before the answer comes (a list refreshed after each
 * action, a search run twice): `const ask = latest(); const rooms = await ask('GET', '/rooms');`.
 * Each call resolves or rejects as `api` does, unless a later call of the same `ask` overtook
 * it: then it never settles, so an older answer arriving last cannot draw over a newer one.
 */
export function latest() {
  let asked = 0;
  return async (method, path, body) => {
    const mine = ++asked;
    let answer;
    try {
      answer = await api(method, path, body);
    } catch (e) {
      if (mine === asked) throw e;
    }
    if (mine === asked) return answer;
    return new Promise(() => {}); // overtaken
  };
}

/** A DOM element: el('td', {class: 'wrap', dataset: {id: 7}}, 'text', childNode, ...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else if (name in node && typeof value !== 'string') node[name] = value;
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/**
 * A table whose rows are put in `body` (a <tbody>) later, under the column headers `headers` (words).
 * Each body cell gets its column's header as data-label, kept as rows come and go: the phone layout
 * (admin.css) draws each row as a card whose cells say what they are. That layout makes the table's
 * parts CSS blocks, and some browsers (Safari) then drop their table semantics: each part names its
 * role (ARIA). Chromium keeps them either way, so tests cannot tell.
 */
export function grid(testid, headers, body) {
  const label = () => {
    for (const row of body.rows) {
      row.setAttribute('role', 'row');
      [...row.cells].forEach((cell, i) => {
        cell.setAttribute('role', 'cell');
        if (cell.colSpan === 1) cell.dataset.label = headers[i] ?? '';
      });
    }
  };
  new MutationObserver(label).observe(body, { childList: true, subtree: true });
  body.setAttribute('role', 'rowgroup');
  return el('table', { class: 'grid', role: 'table', dataset: { testid } },
    el('thead', { role: 'rowgroup' }, el('tr', { role: 'row' }, headers.map((h) => el('th', { scope: 'col', role: 'columnheader' }, h)))),
    body);
}

/**
 * A time (ms since the epoch) as the viewer reads it: the page's language, their time zone, and the
 * chat page's time-format setting (12- or 24-hour).
 */
export function formatTime(ms) {
  return ms === null || ms === undefined ? '' : formatDateTime(ms, 'short');
}

/** Who is signed in: {kind, id, name, roles}, or null. */
export function actor() {
  return session?.actor ?? null;
}

/** Whether the signed-in actor holds `role` ('admin' or 'moderator'), directly or by a role including it. */
export function may(role) {
  return (session?.actor.roles ?? []).some((held) => (ROLES[held] ?? []).includes(role));
}

// Signing in and out

function chatToken() {
  try {
    return JSON.parse(window.localStorage.getItem('chatd.token'));
  } catch {
    return null;
  }
}

function showLogin(message = '') {
  $('login').hidden = false;
  $('tabs').hidden = true;
  $('logout').hidden = true;
  $('who').textContent = '';
  $('panels').replaceChildren();
  $('chat-login').hidden = !chatToken();
  $('login-error').textContent = message;
}

function signedOut(message) {
  session = null;
  showLogin(message);
}

async function signIn(path, body) {
  $('login-error').textContent = '';
  try {
    await api('POST', path, body);
  } catch (e) {
    $('login-error').textContent = refusal(e);
    return;
  }
  // The browser may have refused the cookie: it is Secure, so it needs https (or localhost).
  if (!(await loadSession())) {
    showLogin(t('admin.login.no_cookie'));
  }
}

async function loadSession() {
  try {
    session = await api('GET', '/session');
  } catch {
    session = null;
    return false;
  }
  await showTabs();
  return true;
}

// Tabs

const loaded = new Map(); // id → {tab, panel, mounted}

async function showTabs() {
  $('login').hidden = true;
  $('logout').hidden = false;
  $('who').textContent = t('admin.who', { name: session.actor.name,
    roles: session.actor.roles.map((role) => t(`admin.role.${role}`)).join(t('admin.list_separator')) });
  $('tabs').replaceChildren();
  $('panels').replaceChildren();
  loaded.clear();
  for (const name of TABS) {
    let module;
    try {
      module = await import(`./${name}.js`);
    } catch (e) {
      console.error(`admin tab ${name} failed to load`, e);
      continue;
    }
    const { tab } = module;
    if (!may(tab.role ?? 'admin')) continue;
    const panel = el('section', { class: 'panel', id: `panel-${tab.id}`, dataset: { tab: tab.id }, hidden: true });
    $('panels').append(panel);
    $('tabs').append(el('button', { type: 'button', dataset: { tab: tab.id }, onclick: () => { location.hash = tab.id; } },
      t(tab.title)));
    loaded.set(tab.id, { tab, panel, mounted: false });
  }
  $('tabs').hidden = false;
  route();
}

function route() {
  if (!session) return;
  const wanted = location.hash.slice(1);
  const id = loaded.has(wanted) ? wanted : loaded.keys().next().value;
  for (const [tabId, entry] of loaded) {
    const shown = tabId === id;
    entry.panel.hidden = !shown;
    const button = $('tabs').querySelector(`button[data-tab="${tabId}"]`);
    if (shown) button.setAttribute('aria-current', 'page');
    else button.removeAttribute('aria-current');
    if (!shown) continue;
    if (!entry.mounted) {
      entry.mounted = true;
      entry.tab.mount(entry.panel);
    } else {
      entry.tab.show?.(entry.panel);
    }
  }
}

function start() {
  $('login-form').addEventListener('submit', (event) => {
    event.preventDefault();
    signIn('/login', { name: $('login-name').value, password: $('login-password').value });
    $('login-password').value = '';
  });
  $('chat-login-button').addEventListener('click', () => {
    const token = chatToken();
    if (token) signIn('/login/chat', { token });
    else showLogin(t('admin.login.no_chat'));
  });
  $('logout').addEventListener('click', async () => {
    try {
      await api('POST', '/logout');
    } catch {
      // the session is gone either way
    }
    signedOut(t('admin.signed_out'));
  });
  window.addEventListener('hashchange', route);
  loadSession().then((ok) => { if (!ok) showLogin(); });
}

start();
