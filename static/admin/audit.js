// The audit tab: every admin and moderator action, newest first, read-only.
import { t } from '../i18n.js';
import { el, formatTime, grid, latest, refusal } from './admin.js';

const PAGE = 50;

function mount(panel) {
  const action = el('select', { name: 'action', dataset: { testid: 'audit-action' } },
    el('option', { value: '' }, t('admin.audit.any_action')));
  const actor = el('input', { name: 'actor', placeholder: t('admin.audit.actor_placeholder'), maxlength: 200,
    dataset: { testid: 'audit-actor' } });
  const target = el('input', { name: 'target', placeholder: 'admin:root, user:42', maxlength: 200,
    dataset: { testid: 'audit-target' } });
  const body = el('tbody');
  const more = el('button', { type: 'button', hidden: true }, t('admin.older'));
  const status = el('p', { class: 'muted', role: 'status' });
  let last = null; // the id the next page is below

  const ask = latest(); // filters changed while a page loads: that page is not drawn
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
    status.textContent = t('admin.loading');
    let page;
    try {
      page = await ask('GET', `/audit?${query}`);
    } catch (e) {
      status.textContent = refusal(e);
      return;
    }
    if (action.options.length === 1) {
      for (const name of page.actions) action.append(el('option', { value: name }, name));
    }
    for (const row of page.entries) {
      const detail = Object.keys(row.detail).length ? JSON.stringify(row.detail) : '';
      body.append(el('tr', { dataset: { id: row.id, action: row.action } },
        el('td', {}, formatTime(row.ts)),
        el('td', {}, t('admin.audit.actor', { name: row.actor.name, kind: t(`admin.audit.kind.${row.actor.kind}`) })),
        el('td', {}, row.action),
        el('td', { class: 'wrap' }, row.target),
        el('td', { class: 'wrap' }, row.reason),
        el('td', { class: 'wrap muted' }, detail)));
      last = row.id;
    }
    more.hidden = !page.more;
    status.textContent = body.children.length ? '' : t('admin.audit.empty');
  }

  const form = el('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); load(true); } },
    el('label', {}, t('admin.audit.action'), action), el('label', {}, t('admin.audit.by'), actor),
    el('label', {}, t('admin.audit.target'), target),
    el('button', { type: 'submit' }, t('admin.show')));
  more.addEventListener('click', () => load(false));
  panel.append(el('h1', {}, t('admin.audit.title')),
    el('p', { class: 'muted' }, t('admin.audit.help')), form,
    grid('audit-table', [t('admin.col.when'), t('admin.col.who'), t('admin.audit.action'), t('admin.audit.target'),
      t('admin.col.reason'), t('admin.audit.detail')], body),
    el('div', { class: 'pager' }, more, status));
  load(true);
}

export const tab = { id: 'audit', title: 'admin.audit.title', role: 'admin', mount, show: () => {} };
