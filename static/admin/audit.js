// The audit tab: every admin and moderator action, newest first, read-only.
import { api, el, formatTime } from './admin.js';

const PAGE = 50;

function mount(panel) {
  const action = el('select', { name: 'action', dataset: { testid: 'audit-action' } }, el('option', { value: '' }, 'any'));
  const actor = el('input', { name: 'actor', placeholder: 'name', maxlength: 200, dataset: { testid: 'audit-actor' } });
  const target = el('input', { name: 'target', placeholder: 'admin:root, user:42', maxlength: 200,
    dataset: { testid: 'audit-target' } });
  const body = el('tbody');
  const more = el('button', { type: 'button', hidden: true }, 'Older');
  const status = el('p', { class: 'muted', role: 'status' });
  let last = null; // the id the next page is below

  async function load(reset) {
    if (reset) {
      body.replaceChildren();
      last = null;
    }
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (last !== null) query.set('before', String(last));
    if (action.value) query.set('action', action.value);
    if (actor.value.trim()) query.set('actor', actor.value.trim());
    if (target.value.trim()) query.set('target', target.value.trim());
    status.textContent = 'Loading…';
    let page;
    try {
      page = await api('GET', `/audit?${query}`);
    } catch (e) {
      status.textContent = e.message;
      return;
    }
    if (action.options.length === 1) {
      for (const name of page.actions) action.append(el('option', { value: name }, name));
    }
    for (const row of page.entries) {
      const detail = Object.keys(row.detail).length ? JSON.stringify(row.detail) : '';
      body.append(el('tr', { dataset: { id: row.id, action: row.action } },
        el('td', {}, formatTime(row.ts)),
        el('td', {}, `${row.actor.name} (${row.actor.kind})`),
        el('td', {}, row.action),
        el('td', { class: 'wrap' }, row.target),
        el('td', { class: 'wrap' }, row.reason),
        el('td', { class: 'wrap muted' }, detail)));
      last = row.id;
    }
    more.hidden = !page.more;
    status.textContent = body.children.length ? '' : 'Nothing logged yet.';
  }

  const form = el('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); load(true); } },
    el('label', {}, 'Action', action), el('label', {}, 'By', actor), el('label', {}, 'Target', target),
    el('button', { type: 'submit' }, 'Show'));
  more.addEventListener('click', () => load(false));
  panel.append(el('h1', {}, 'Audit log'),
    el('p', { class: 'muted' }, 'Every admin and moderator action. Nothing here can be changed. A failed login is '
      + 'by "anonymous", named by its address; its target is the account tried.'), form,
    el('table', { class: 'grid', dataset: { testid: 'audit-table' } },
      el('thead', {}, el('tr', {}, ['When', 'Who', 'Action', 'Target', 'Reason', 'Detail'].map((h) => el('th', {}, h)))),
      body),
    el('div', { class: 'pager' }, more, status));
  load(true);
}

export const tab = { id: 'audit', title: 'Audit log', role: 'admin', mount, show: () => {} };
