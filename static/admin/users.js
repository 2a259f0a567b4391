// The users tab: find a user by id or name, download its data, delete it
// (chatd/admin/users.py; each export and deletion is audited there). A deleted user, found
// by id, may be deleted again: that finishes a deletion a crash cut off.
import { api, el } from './admin.js';

function mount(panel) {
  const status = el('p', { class: 'muted', role: 'status', dataset: { testid: 'users-status' } });
  const body = el('tbody', { dataset: { testid: 'users-body' } });
  const query = el('input', { name: 'q', required: true, maxlength: 128, placeholder: 'id or name', dataset: { testid: 'users-query' } });

  async function find() {
    let answer;
    try {
      answer = await api('GET', `/users?q=${encodeURIComponent(query.value.trim())}`);
    } catch (e) {
      status.textContent = e.message;
      return;
    }
    status.textContent = answer.users.length ? '' : 'No such user.';
    body.replaceChildren(...answer.users.map((u) => el('tr', { dataset: { user: u.id } },
      el('td', {}, String(u.id)), el('td', { class: 'wrap' }, u.name), el('td', {}, u.kind),
      el('td', {}, u.online ? 'online' : ''),
      el('td', {},
        el('a', { href: `/admin/api/users/${u.id}/export`, download: `chatd-user-${u.id}.json` }, 'Export (JSON)'), ' ',
        el('button', { type: 'button', class: 'danger', dataset: { testid: 'user-delete' }, onclick: async () => {
          if (!window.confirm(u.kind === 'deleted'
            ? `User ${u.id} was deleted. Make whatever of their messages is left (a deletion cut off) tombstones?`
            : `Delete user ${u.id} (${u.name})? Their messages become tombstones, nothing `
              + 'identifying stays, and their sessions end. This cannot be undone.')) return;
          try {
            const done = await api('DELETE', `/users/${u.id}`, {});
            await find(); // the list without them; then what was done
            status.textContent = `User ${u.id} deleted: ${done.tombstones} message${done.tombstones === 1 ? '' : 's'} removed.`;
          } catch (e) {
            status.textContent = e.message;
          }
        } }, u.kind === 'deleted' ? 'Finish deleting' : 'Delete')))));
  }

  panel.append(el('h1', {}, 'Users'),
    el('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); find(); } },
      el('label', {}, 'User', query), el('button', { type: 'submit', class: 'primary' }, 'Find')),
    el('table', { class: 'grid', dataset: { testid: 'users-table' } },
      el('thead', {}, el('tr', {}, ['Id', 'Name', 'Kind', '', ''].map((h) => el('th', {}, h)))), body),
    status);
}

export const tab = { id: 'users', title: 'Users', role: 'admin', mount, show: () => {} };
