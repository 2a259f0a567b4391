// The rooms tab: rooms with their flags (archived, announcement, members-only), their own
// retention, creating and deleting them; reserved names; retention's dry run and purge.
// Every change is one request to /admin/api (chatd/admin/rooms.py), audited there.
import { api, counted, el } from './admin.js';

const FLAGS = [['archived', 'Archived (read-only)'], ['announcement', 'Announcement (moderators post)'],
  ['members_only', 'Members only']];

function mount(panel) {
  const status = el('p', { class: 'muted', role: 'status', dataset: { testid: 'rooms-status' } });
  const say = (text) => { status.textContent = text; };
  const rooms = el('tbody', { dataset: { testid: 'rooms-body' } });
  const names = el('tbody', { dataset: { testid: 'names-body' } });
  const plan = el('div', { dataset: { testid: 'retention-plan' } });
  let globalDays = 0;

  async function act(method, path, body, done) {
    try {
      const answer = await api(method, path, body);
      say(done);
      return answer;
    } catch (e) {
      say(`${e.message} (${e.code})`);
      return null;
    }
  }

  function row(room) {
    const path = `/rooms/${encodeURIComponent(room.name)}`;
    const topic = el('input', { value: room.topic, maxlength: 200, 'aria-label': `Topic of ${room.name}` });
    const days = el('input', { type: 'number', min: 0, max: 36500, value: room.retention_days ?? '',
      placeholder: `global (${globalDays || 'for ever'})`, 'aria-label': `Retention days of ${room.name}` });
    const flags = FLAGS.map(([flag, label]) => el('label', { class: 'flag' },
      el('input', { type: 'checkbox', checked: room[flag], dataset: { flag },
        onchange: async (e) => {
          if (!(await act('PATCH', path, { [flag]: e.target.checked }, `${room.name}: ${label} ${e.target.checked ? 'on' : 'off'}`))) {
            e.target.checked = !e.target.checked;
          }
        } }), ' ', label));
    return el('tr', { dataset: { room: room.name } },
      el('td', { class: 'wrap' }, room.name),
      el('td', {}, topic, ' ', el('button', { type: 'button',
        onclick: () => act('PATCH', path, { topic: topic.value }, `${room.name}: topic saved`) }, 'Save')),
      el('td', {}, String(room.online)),
      el('td', {}, flags),
      el('td', {}, days, ' ', el('button', { type: 'button',
        onclick: () => act('PATCH', path, { retention_days: days.value === '' ? null : Number(days.value) },
          `${room.name}: retention saved`) }, 'Save')),
      el('td', {}, el('button', { type: 'button', class: 'danger', dataset: { testid: 'room-delete' },
        onclick: async () => {
          if (!window.confirm(`Delete #${room.name} with all its messages? Its members are told. This cannot be undone.`)) return;
          if (await act('DELETE', path, undefined, `#${room.name} deleted`)) loadRooms();
        } }, 'Delete')));
  }

  async function loadRooms() {
    let answer;
    try {
      answer = await api('GET', '/rooms');
    } catch (e) {
      say(e.message);
      return;
    }
    globalDays = answer.retention_days;
    rooms.replaceChildren(...answer.rooms.map(row));
  }

  async function loadNames() {
    let answer;
    try {
      answer = await api('GET', '/names');
    } catch (e) {
      say(e.message);
      return;
    }
    names.replaceChildren(...answer.names.map((n) => el('tr', { dataset: { pattern: n.pattern } },
      el('td', { class: 'wrap' }, n.pattern), el('td', {}, n.scope), el('td', { class: 'wrap' }, n.reason),
      el('td', {}, el('button', { type: 'button', onclick: async () => {
        if (await act('DELETE', `/names/${n.id}`, undefined, `${n.pattern} released`)) loadNames();
      } }, 'Remove')))));
  }

  const name = el('input', { name: 'name', required: true, maxlength: 64, placeholder: 'name', dataset: { testid: 'room-name' } });
  const topic = el('input', { name: 'topic', maxlength: 200, placeholder: 'topic' });
  const createFlags = FLAGS.map(([flag, label]) => el('input', { type: 'checkbox', dataset: { flag }, 'aria-label': label }));
  const create = el('form', { class: 'filters', onsubmit: async (e) => {
    e.preventDefault();
    const body = { name: name.value, topic: topic.value };
    createFlags.forEach((box) => { body[box.dataset.flag] = box.checked; });
    if (await act('POST', '/rooms', body, `#${name.value} created`)) {
      name.value = topic.value = '';
      loadRooms();
    }
  } }, el('label', {}, 'Name', name), el('label', {}, 'Topic', topic),
  FLAGS.map(([, label], i) => el('label', { class: 'flag' }, createFlags[i], ' ', label)),
  el('button', { type: 'submit', class: 'primary' }, 'Create room'));

  const pattern = el('input', { name: 'pattern', required: true, maxlength: 64, placeholder: 'Admin or *admin*', dataset: { testid: 'name-pattern' } });
  const scope = el('select', { name: 'scope' }, ['any', 'user', 'room'].map((s) => el('option', { value: s }, s)));
  const reason = el('input', { name: 'reason', maxlength: 200, placeholder: 'why (shown to who is refused)' });
  const reserve = el('form', { class: 'filters', onsubmit: async (e) => {
    e.preventDefault();
    if (await act('POST', '/names', { pattern: pattern.value, scope: scope.value, reason: reason.value },
      `${pattern.value} reserved`)) {
      pattern.value = reason.value = '';
      loadNames();
    }
  } }, el('label', {}, 'Name or pattern', pattern), el('label', {}, 'For', scope), el('label', {}, 'Reason', reason),
  el('button', { type: 'submit', class: 'primary' }, 'Reserve'));

  async function preview() {
    const answer = await act('GET', '/retention', undefined, '');
    if (!answer) return;
    plan.replaceChildren(answer.channels.length
      ? el('ul', {}, answer.channels.map((c) => el('li', {},
        `${c.room === null ? 'private messages' : '#' + c.room}: ${counted(c.messages, 'message')} older than ${counted(c.days, 'day')}`)))
      : el('p', { class: 'muted' }, 'Messages are kept for ever.'),
    el('p', {}, `${counted(answer.messages, 'message')} would go.`));
  }

  panel.append(el('h1', {}, 'Rooms'), create,
    el('table', { class: 'grid', dataset: { testid: 'rooms-table' } },
      el('thead', {}, el('tr', {}, ['Room', 'Topic', 'Online', 'Flags', 'Retention (days)', ''].map((h) => el('th', {}, h)))),
      rooms),
    status,
    el('h2', {}, 'Reserved names'),
    el('p', { class: 'muted' }, 'Guests cannot take these names, nor users give them to rooms; look-alikes '
      + '(other scripts, case) count. * stands for any characters. The web app\'s users are not held back.'),
    reserve,
    el('table', { class: 'grid', dataset: { testid: 'names-table' } },
      el('thead', {}, el('tr', {}, ['Name or pattern', 'For', 'Reason', ''].map((h) => el('th', {}, h)))), names),
    el('h2', {}, 'Retention'),
    el('p', { class: 'muted' }, 'Old messages are purged every 10 minutes; a room\'s own days win over the global setting.'),
    el('div', { class: 'pager' },
      el('button', { type: 'button', onclick: preview }, 'What would go'),
      el('button', { type: 'button', class: 'danger', onclick: async () => {
        if (!window.confirm('Purge the messages past their retention now?')) return;
        const done = await act('POST', '/retention', undefined, '');
        if (done) say(`${counted(done.messages, 'message')} purged`);
      } }, 'Purge now')),
    plan);
  loadRooms();
  loadNames();
}

export const tab = { id: 'rooms', title: 'Rooms', role: 'admin', mount, show: () => {} };
