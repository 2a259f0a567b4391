// The moderation tab: delete a message by id, kick a user, and the mutes and bans in force
// (add, lift). Every action is audited by the server (the Audit log tab shows them).
import { plural, t } from '../i18n.js';
import { api, el, formatTime, grid, latest, may, refusal } from './admin.js';

const DURATIONS = [ // [label's key (the chat page's where it has one), seconds or '' for no end]
  ['moderation.for_10min', 600], ['moderation.for_1hour', 3600], ['moderation.for_1day', 86400],
  ['moderation.for_1week', 604800], ['admin.mod.for_30days', 2592000], ['', ''],
];

function field(label, input) {
  return el('label', {}, label, input);
}

function durationSelect(name, noEnd) {
  return el('select', { name, dataset: { testid: `${name}-duration` } },
    DURATIONS.map(([label, seconds]) => el('option', { value: String(seconds) }, seconds === '' ? noEnd : t(label))));
}

/** A form whose submit calls `act(form values)`; the result or the error goes to its status line. */
function actionForm(testid, title, inputs, submit, act) {
  const status = el('p', { class: 'muted', role: 'status', dataset: { testid: `${testid}-status` } });
  const form = el('form', { class: 'card', dataset: { testid } }, el('h2', {}, title), ...inputs,
    el('button', { type: 'submit', class: 'primary' }, submit), status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    status.textContent = '…';
    status.classList.remove('error');
    try {
      status.textContent = await act(new FormData(form));
      form.reset();
    } catch (e) {
      status.textContent = refusal(e);
      status.classList.add('error');
    }
  });
  return form;
}

function optional(values) {
  const body = {};
  for (const [name, value] of Object.entries(values)) if (value !== '' && value !== null) body[name] = value;
  return body;
}

/** A user as the lists show one: "name (id)". */
function userText(user) {
  return t('admin.mod.user_text', { name: user.name, id: user.id });
}

function untilText(until) {
  return until === null ? t('admin.mod.no_end') : formatTime(until);
}

/** What a new mute or ban that left a longer one in force (`kept`: a sanction never shortens one) says. */
function keptText(kind, until) {
  const end = until === null ? t('admin.mod.kept_no_end') : t('admin.mod.kept_until', { time: formatTime(until) });
  return t(`admin.mod.kept_${kind}`, { end });
}

function mount(panel) {
  const mutes = el('tbody');
  const bans = el('tbody');
  const listStatus = el('p', { class: 'muted', role: 'status' });

  const ask = latest(); // refreshed after each action: the last one asked is the one drawn
  async function refresh() {
    let lists;
    try {
      lists = await ask('GET', '/moderation');
    } catch (e) {
      listStatus.textContent = refusal(e);
      return;
    }
    listStatus.textContent = '';
    mutes.replaceChildren(...lists.mutes.map((m) => el('tr', { dataset: { id: m.id } },
      el('td', {}, userText(m.user)), el('td', {}, m.room ?? t('admin.mod.everywhere')),
      el('td', {}, untilText(m.until)), el('td', { class: 'wrap' }, m.reason),
      el('td', {}, el('button', { type: 'button', 'aria-label': t('admin.mod.unmute_label', { name: m.user.name }),
        onclick: () => lift(`/moderation/mutes/${m.id}`) }, t('admin.mod.unmute'))))));
    bans.replaceChildren(...lists.bans.map((b) => el('tr', { dataset: { id: b.id } },
      el('td', {}, b.user ? userText(b.user) : b.address),
      el('td', {}, untilText(b.until)), el('td', { class: 'wrap' }, b.reason),
      el('td', {}, el('button', { type: 'button', 'aria-label': t('admin.mod.lift_label', { name: b.user ? b.user.name : b.address }),
        onclick: () => lift(`/moderation/bans/${b.id}`) }, t('admin.mod.lift'))))));
    if (!lists.mutes.length) mutes.append(el('tr', {}, el('td', { colspan: 5, class: 'muted' }, t('admin.mod.no_mutes'))));
    if (!lists.bans.length) bans.append(el('tr', {}, el('td', { colspan: 4, class: 'muted' }, t('admin.mod.no_bans'))));
  }

  async function lift(path) {
    try {
      await api('DELETE', path);
    } catch (e) {
      listStatus.textContent = refusal(e);
    }
    refresh();
  }

  // A kick's, a mute's and a ban's reason reaches the user (kicked, muted, banned); a deletion's only the audit log.
  const reason = (name, placeholder = 'admin.mod.reason_placeholder') => el('input', { name, maxlength: 200,
    placeholder: t(placeholder) });
  const userId = (name) => el('input', { name, inputmode: 'numeric', pattern: '[0-9]+', required: true });

  const forms = [
    actionForm('mod-delete', t('admin.mod.delete_title'), [field(t('admin.mod.message_id'), userId('id')),
      field(t('admin.col.reason'), reason('reason', 'admin.mod.reason_audit_placeholder'))], t('admin.delete'), async (f) => {
      const { message } = await api('POST', '/moderation/delete', optional({ id: Number(f.get('id')), reason: f.get('reason') }));
      return t('admin.message_deleted', { id: message.id });
    }),
    actionForm('mod-mute', t('admin.mod.mute_title'), [field(t('admin.mod.user_id'), userId('user')),
      field(t('admin.mod.room'), el('input', { name: 'room', maxlength: 32 })),
      field(t('admin.mod.for'), durationSelect('mute', t('moderation.until_unmuted'))), field(t('admin.col.reason'), reason('reason'))],
    t('moderation.mute'), async (f) => {
      const seconds = f.get('mute');
      const { mute, kept } = await api('POST', '/moderation/mutes', optional({ user: Number(f.get('user')),
        room: f.get('room').trim(), seconds: seconds === '' ? '' : Number(seconds), reason: f.get('reason') }));
      refresh();
      return kept ? keptText('mute', mute.until) : t('admin.mod.muted');
    }),
    actionForm('mod-kick', t('admin.mod.kick_title'), [field(t('admin.mod.user_id'), userId('user')),
      field(t('admin.col.reason'), reason('reason'))], t('admin.mod.kick'), async (f) => {
      const { sessions_here: n, other_nodes: others } = await api('POST', '/moderation/kick',
        optional({ user: Number(f.get('user')), reason: f.get('reason') }));
      return others ? plural('admin.mod.kicked_here', n) : plural('admin.mod.kicked', n);
    }),
    actionForm('mod-ban', t(may('admin') ? 'admin.mod.ban_title_admin' : 'admin.mod.ban_title'), [
      field(t('admin.mod.user_id'), el('input', { name: 'user', inputmode: 'numeric', pattern: '[0-9]+' })),
      may('admin') ? field(t('admin.mod.address'), el('input', { name: 'address', maxlength: 64,
        placeholder: '203.0.113.7, 198.51.100.0/24, 2001:db8::/32' })) : null,
      field(t('admin.mod.for'), durationSelect('ban', t('admin.mod.for_good'))), field(t('admin.col.reason'), reason('reason'))],
    t('admin.mod.ban'), async (f) => {
      const seconds = f.get('ban');
      const user = (f.get('user') || '').trim();
      const { ban, kept } = await api('POST', '/moderation/bans', optional({ user: user ? Number(user) : '',
        address: (f.get('address') || '').trim(), seconds: seconds === '' ? '' : Number(seconds), reason: f.get('reason') }));
      refresh();
      return kept ? keptText('ban', ban.until) : t('admin.mod.banned');
    }),
  ];

  panel.append(el('h1', {}, t('admin.mod.title')),
    el('p', { class: 'muted' }, t('admin.mod.help')),
    el('div', { class: 'forms' }, forms),
    el('h2', {}, t('admin.mod.muted_heading')),
    grid('mutes-table', [t('admin.mod.user'), t('admin.col.where'), t('admin.mod.until'), t('admin.col.reason'), ''], mutes),
    el('h2', {}, t('admin.mod.banned_heading')),
    grid('bans-table', [t(may('admin') ? 'admin.mod.user_or_address' : 'admin.mod.user'), t('admin.mod.until'),
      t('admin.col.reason'), ''], bans),
    listStatus);
  refresh();
}

export const tab = { id: 'moderation', title: 'admin.mod.title', role: 'moderator', mount, show: () => {} };
