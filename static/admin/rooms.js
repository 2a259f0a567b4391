// The rooms tab: rooms with their flags (archived, announcement, members-only), their own
// retention, creating and deleting them; reserved names; retention's dry run and purge.
// Every change is one request to /admin/api (chatd/admin/rooms.py), audited there.
import { formatNumber, plural, t } from '../i18n.js';
import { api, el, grid, latest, refusal } from './admin.js';

const FLAGS = ['archived', 'announcement', 'members_only']; // each one's words: admin.rooms.flag.<flag>
const SCOPES = ['any', 'user', 'room']; // what a reserved name holds back: admin.rooms.scope.<scope>

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
      say(`${refusal(e)} (${e.code})`);
      return null;
    }
  }

  function row(room) {
    const path = `/rooms/${encodeURIComponent(room.name)}`;
    const topic = el('input', { value: room.topic, maxlength: 200, 'aria-label': t('admin.rooms.topic_of', { room: room.name }) });
    const days = el('input', { type: 'number', min: 0, max: 36500, value: room.retention_days ?? '',
      placeholder: globalDays ? t('admin.rooms.global_days', { days: formatNumber(globalDays) }) : t('admin.rooms.global_for_ever'),
      'aria-label': t('admin.rooms.days_of', { room: room.name }) });
    const flags = FLAGS.map((flag) => el('label', { class: 'flag' },
      el('input', { type: 'checkbox', checked: room[flag], dataset: { flag },
        onchange: async (e) => {
          const done = t(e.target.checked ? 'admin.rooms.flag_on' : 'admin.rooms.flag_off',
            { room: room.name, flag: t(`admin.rooms.flag.${flag}`) });
          if (!(await act('PATCH', path, { [flag]: e.target.checked }, done))) e.target.checked = !e.target.checked;
        } }), ' ', t(`admin.rooms.flag.${flag}`)));
    return el('tr', { dataset: { room: room.name } },
      el('td', { class: 'name' }, room.name),
      el('td', {}, topic, ' ', el('button', { type: 'button',
        onclick: () => act('PATCH', path, { topic: topic.value }, t('admin.rooms.topic_saved', { room: room.name })) },
      t('admin.save'))),
      el('td', {}, formatNumber(room.online)),
      el('td', {}, flags),
      el('td', {}, days, ' ', el('button', { type: 'button',
        onclick: () => act('PATCH', path, { retention_days: days.value === '' ? null : Number(days.value) },
          t('admin.rooms.retention_saved', { room: room.name })) }, t('admin.save'))),
      el('td', {}, el('button', { type: 'button', class: 'danger', dataset: { testid: 'room-delete' },
        onclick: async () => {
          if (!window.confirm(t('admin.rooms.confirm_delete', { room: room.name }))) return;
          if (await act('DELETE', path, undefined, t('admin.rooms.deleted', { room: room.name }))) loadRooms();
        } }, t('admin.delete'))));
  }

  const askRooms = latest(); // reloaded after each action: the last one asked is the one drawn
  const askNames = latest();

  async function loadRooms() {
    let answer;
    try {
      answer = await askRooms('GET', '/rooms');
    } catch (e) {
      say(refusal(e));
      return;
    }
    globalDays = answer.retention_days;
    rooms.replaceChildren(...answer.rooms.map(row));
  }

  async function loadNames() {
    let answer;
    try {
      answer = await askNames('GET', '/names');
    } catch (e) {
      say(refusal(e));
      return;
    }
    names.replaceChildren(...answer.names.map((n) => el('tr', { dataset: { pattern: n.pattern } },
      el('td', { class: 'name' }, n.pattern), el('td', {}, t(`admin.rooms.scope.${n.scope}`)), el('td', { class: 'wrap' }, n.reason),
      el('td', {}, el('button', { type: 'button', onclick: async () => {
        if (await act('DELETE', `/names/${n.id}`, undefined, t('admin.rooms.released', { pattern: n.pattern }))) loadNames();
      } }, t('admin.rooms.remove'))))));
  }

  const name = el('input', { name: 'name', required: true, maxlength: 64, placeholder: t('admin.rooms.name_placeholder'),
    dataset: { testid: 'room-name' } });
  const topic = el('input', { name: 'topic', maxlength: 200, placeholder: t('admin.rooms.topic_placeholder') });
  const createFlags = FLAGS.map((flag) => el('input', { type: 'checkbox', dataset: { flag } }));
  const create = el('form', { class: 'filters', onsubmit: async (e) => {
    e.preventDefault();
    const body = { name: name.value, topic: topic.value };
    createFlags.forEach((box) => { body[box.dataset.flag] = box.checked; });
    if (await act('POST', '/rooms', body, t('admin.rooms.created', { room: name.value }))) {
      name.value = topic.value = '';
      loadRooms();
    }
  } }, el('label', {}, t('admin.col.name'), name), el('label', {}, t('admin.rooms.topic'), topic),
  FLAGS.map((flag, i) => el('label', { class: 'flag' }, createFlags[i], ' ', t(`admin.rooms.flag.${flag}`))),
  el('button', { type: 'submit', class: 'primary' }, t('admin.rooms.create')));

  const pattern = el('input', { name: 'pattern', required: true, maxlength: 64, placeholder: t('admin.rooms.pattern_placeholder'),
    dataset: { testid: 'name-pattern' } });
  const scope = el('select', { name: 'scope' }, SCOPES.map((s) => el('option', { value: s }, t(`admin.rooms.scope.${s}`))));
  const reason = el('input', { name: 'reason', maxlength: 200, placeholder: t('admin.rooms.reason_placeholder') });
  const reserve = el('form', { class: 'filters', onsubmit: async (e) => {
    e.preventDefault();
    if (await act('POST', '/names', { pattern: pattern.value, scope: scope.value, reason: reason.value },
      t('admin.rooms.reserved', { pattern: pattern.value }))) {
      pattern.value = reason.value = '';
      loadNames();
    }
  } }, el('label', {}, t('admin.rooms.pattern'), pattern), el('label', {}, t('admin.rooms.for'), scope),
  el('label', {}, t('admin.col.reason'), reason),
  el('button', { type: 'submit', class: 'primary' }, t('admin.rooms.reserve')));

  async function preview() {
    const answer = await act('GET', '/retention', undefined, '');
    if (!answer) return;
    plan.replaceChildren(answer.channels.length
      ? el('ul', {}, answer.channels.map((c) => el('li', {},
        plural('admin.rooms.would_go_from', c.messages, {
          where: c.room === null ? t('admin.rooms.private_messages') : `#${c.room}`, days: plural('admin.rooms.days', c.days) }))))
      : el('p', { class: 'muted' }, t('admin.rooms.kept_for_ever')),
    el('p', {}, plural('admin.rooms.would_go', answer.messages)));
  }

  panel.append(el('h1', {}, t('admin.rooms.title')), create,
    grid('rooms-table', [t('admin.rooms.room'), t('admin.rooms.topic'), t('admin.rooms.online'), t('admin.rooms.flags'),
      t('admin.rooms.retention_days'), ''], rooms),
    status,
    el('h2', {}, t('admin.rooms.reserved_names')),
    el('p', { class: 'muted' }, t('admin.rooms.reserved_help')),
    reserve,
    grid('names-table', [t('admin.rooms.pattern'), t('admin.rooms.for'), t('admin.col.reason'), ''], names),
    el('h2', {}, t('admin.rooms.retention')),
    el('p', { class: 'muted' }, t('admin.rooms.retention_help')),
    el('div', { class: 'pager' },
      el('button', { type: 'button', onclick: preview }, t('admin.rooms.what_would_go')),
      el('button', { type: 'button', class: 'danger', onclick: async () => {
        if (!window.confirm(t('admin.rooms.confirm_purge'))) return;
        const done = await act('POST', '/retention', undefined, '');
        if (done) say(plural('admin.rooms.purged', done.messages));
      } }, t('admin.rooms.purge_now'))),
    plan);
  loadRooms();
  loadNames();
}

export const tab = { id: 'rooms', title: 'admin.rooms.title', role: 'admin', mount, show: () => {} };
