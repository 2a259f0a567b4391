// The users tab: find a user by id or name, download its data, delete it
// (chatd/admin/users.py; each export and deletion is audited there). A deleted user, found
// by id, may be deleted again: that finishes a deletion a crash cut off.
import { has, plural, t } from '../i18n.js';
import { api, el, grid, latest, refusal } from './admin.js';

/** A user's kind (guest, app, bot, deleted …) in the page's language; an unknown one as the server says it. */
function kindText(kind) {
  return has(`admin.users.kind.${kind}`) ? t(`admin.users.kind.${kind}`) : kind;
}

function mount(panel) {
  const status = el('p', { class: 'muted', role: 'status', dataset: { testid: 'users-status' } });
  const body = el('tbody', { dataset: { testid: 'users-body' } });
  const query = el('input', { name: 'q', required: true, maxlength: 128, placeholder: t('admin.users.placeholder'),
    dataset: { testid: 'users-query' } });

  const ask = latest(); // a search run again before the last answered: the last one is drawn
  async function find() {
    let answer;
    try {
      answer = await ask('GET', `/users?q=${encodeURIComponent(query.value.trim())}`);
    } catch (e) {
      status.textContent = refusal(e);
      return;
    }
    status.textContent = answer.users.length ? '' : t('admin.users.none');
    body.replaceChildren(...answer.users.map((u) => el('tr', { dataset: { user: u.id } },
      el('td', {}, String(u.id)), el('td', { class: 'wrap' }, u.name), el('td', {}, kindText(u.kind)),
      el('td', {}, u.online ? t('admin.users.online') : ''),
      el('td', {},
        el('a', { href: `/admin/api/users/${u.id}/export`, download: `chatd-user-${u.id}.json` }, t('admin.users.export')), ' ',
        el('button', { type: 'button', class: 'danger', dataset: { testid: 'user-delete' }, onclick: async () => {
          if (!window.confirm(u.kind === 'deleted'
            ? t('admin.users.confirm_finish', { id: u.id })
            : t('admin.users.confirm_delete', { id: u.id, name: u.name }))) return;
          try {
            const done = await api('DELETE', `/users/${u.id}`, {});
            await find(); // the list without them; then what was done
            status.textContent = plural('admin.users.deleted', done.tombstones, { id: u.id });
          } catch (e) {
            status.textContent = refusal(e);
          }
        } }, u.kind === 'deleted' ? t('admin.users.finish') : t('admin.delete'))))));
  }

  panel.append(el('h1', {}, t('admin.users.title')),
    el('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); find(); } },
      el('label', {}, t('admin.users.user'), query), el('button', { type: 'submit', class: 'primary' }, t('admin.users.find'))),
    grid('users-table', [t('admin.users.id'), t('admin.col.name'), t('admin.users.kind'), t('admin.users.presence'), ''], body),
    status);
}

export const tab = { id: 'users', title: 'admin.users.title', role: 'admin', mount, show: () => {} };
