// The admin page's shell: login, logout, the tab router, and what every tab uses.
//
// A tab is one module static/admin/<id>.js, named in TABS below, exporting
//   export const tab = {
//     id: 'audit', title: 'Audit log',
//     role: 'admin',                 // or 'moderator': the tab shows only to those who may use it
//     mount(panel) { ... },          // once, the first time it is shown: fill the empty <section>
//     show(panel) { ... },           // optional: each later time it is shown
//   };
// and builds its content with el() (DOM nodes, never HTML strings: the page's
// Content-Security-Policy allows no inline script, and text stays text), talks
// to /admin/api with api() (the CSRF token is sent for it), and shows times
// with formatTime() (the viewer's time zone).

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

/** An error answer of the admin API: `status` (HTTP), `code` and `message` from its body. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
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
    throw new ApiError(0, 'offline', 'chatd cannot be reached');
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.ok) return data ?? {};
  const error = data?.error ?? { code: 'internal', message: `HTTP ${response.status}` };
  if (response.status === 401 && session) signedOut('Your session ended: sign in again.');
  throw new ApiError(response.status, error.code, error.message);
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

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'medium' });

/** A time (ms since the epoch) as the viewer reads it: their locale and time zone. */
export function formatTime(ms) {
  return ms === null || ms === undefined ? '' : timeFormat.format(new Date(ms));
}

/** A count of an English noun whose plural takes an s: counted(1, 'day') → "1 day", counted(0, 'day') → "0 days". */
export function counted(n, noun) {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
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
    $('login-error').textContent = e.message; // a refusal for too many attempts says when to try again
    return;
  }
  // The browser may have refused the cookie: it is Secure, so it needs https (or localhost).
  if (!(await loadSession())) {
    showLogin('Signed in, but this browser did not keep the session cookie: open the admin page over https '
      + '(or on localhost).');
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
  $('who').textContent = `${session.actor.name} (${session.actor.roles.join(', ')})`;
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
      tab.title));
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
    else showLogin('You are not signed in to the chat in this browser.');
  });
  $('logout').addEventListener('click', async () => {
    try {
      await api('POST', '/logout');
    } catch {
      // the session is gone either way
    }
    signedOut('Signed out.');
  });
  window.addEventListener('hashchange', route);
  loadSession().then((ok) => { if (!ok) showLogin(); });
}

start();
