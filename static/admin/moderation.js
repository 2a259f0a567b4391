// The moderation tab: delete a message by id, kick a user, and the mutes and bans in force
// (add, lift). Every action is audited by the server (the Audit log tab shows them).
import { api, counted, el, formatTime, may } from './admin.js';

const DURATIONS = [ // [label, seconds or '' for no end]
  ['10 minutes', 600], ['1 hour', 3600], ['1 day', 86400], ['1 week', 604800], ['30 days', 2592000],
  ['no end', ''],
];

function field(label, input) {
  return el('label', {}, label, input);
}

function durationSelect(name, noEnd) {
  return el('select', { name, dataset: { testid: `${name}-duration` } },
    DURATIONS.map(([label, seconds]) => el('option', { value: String(seconds) }, seconds === '' ? noEnd : label)));
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
      status.textContent = e.message;
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

function untilText(until) {
  return until === null ? 'no end' : formatTime(until);
}

/** What a new mute or ban that left a longer one in force (`kept`: a sanction never shortens one) says. */
function keptText(what, until) {
  const end = until === null ? 'with no end' : `until ${formatTime(until)}`;
  return `Left as it was: a longer ${what} is in force, ${end}. Lift it first to shorten it.`;
}

function mount(panel) {
  const mutes = el('tbody');
  const bans = el('tbody');
  const listStatus = el('p', { class: 'muted', role: 'status' });

  async function refresh() {
    let lists;
    try {
      lists = await api('GET', '/moderation');
    } catch (e) {
      listStatus.textContent = e.message;
      return;
    }
    listStatus.textContent = '';
    mutes.replaceChildren(...lists.mutes.map((m) => el('tr', { dataset: { id: m.id } },
      el('td', {}, `${m.user.name} (${m.user.id})`), el('td', {}, m.room ?? 'everywhere'),
      el('td', {}, untilText(m.until)), el('td', { class: 'wrap' }, m.reason),
      el('td', {}, el('button', { type: 'button', 'aria-label': `Unmute ${m.user.name}`,
        onclick: () => lift(`/moderation/mutes/${m.id}`) }, 'Unmute')))));
    bans.replaceChildren(...lists.bans.map((b) => el('tr', { dataset: { id: b.id } },
      el('td', {}, b.user ? `${b.user.name} (${b.user.id})` : b.address),
      el('td', {}, untilText(b.until)), el('td', { class: 'wrap' }, b.reason),
      el('td', {}, el('button', { type: 'button', 'aria-label': `Lift the ban of ${b.user ? b.user.name : b.address}`,
        onclick: () => lift(`/moderation/bans/${b.id}`) }, 'Lift')))));
    if (!lists.mutes.length) mutes.append(el('tr', {}, el('td', { colspan: 5, class: 'muted' }, 'No one is muted.')));
    if (!lists.bans.length) bans.append(el('tr', {}, el('td', { colspan: 4, class: 'muted' }, 'No one is banned.')));
  }

  async function lift(path) {
    try {
      await api('DELETE', path);
    } catch (e) {
      listStatus.textContent = e.message;
    }
    refresh();
  }

  // A kick's, a mute's and a ban's reason reaches the user (kicked, muted, banned); a deletion's only the audit log.
  const reason = (name, placeholder = 'shown to the user') => el('input', { name, maxlength: 200, placeholder });
  const userId = (name) => el('input', { name, inputmode: 'numeric', pattern: '[0-9]+', required: true });

  const forms = [
    actionForm('mod-delete', 'Delete a message', [field('Message id', userId('id')),
      field('Reason', reason('reason', 'kept in the audit log'))], 'Delete', async (f) => {
        const { message } = await api('POST', '/moderation/delete', optional({ id: Number(f.get('id')), reason: f.get('reason') }));
        return `Message ${message.id} deleted: every open page has dropped it.`;
      }),
    actionForm('mod-mute', 'Mute a user', [field('User id', userId('user')),
      field('Room (empty: everywhere)', el('input', { name: 'room', maxlength: 32 })),
      field('For', durationSelect('mute', 'until unmuted')), field('Reason', reason('reason'))], 'Mute', async (f) => {
      const seconds = f.get('mute');
      const { mute, kept } = await api('POST', '/moderation/mutes', optional({ user: Number(f.get('user')),
        room: f.get('room').trim(), seconds: seconds === '' ? '' : Number(seconds), reason: f.get('reason') }));
      refresh();
      return kept ? keptText('mute', mute.until) : 'Muted.';
    }),
    actionForm('mod-kick', 'Kick a user', [field('User id', userId('user')), field('Reason', reason('reason'))], 'Kick',
      async (f) => {
        const { sessions_here: n, other_nodes: others } = await api('POST', '/moderation/kick',
          optional({ user: Number(f.get('user')), reason: f.get('reason') }));
        return others ? `Kicked: ${counted(n, 'session')} closed on this node; the other nodes close theirs.`
          : `Kicked: ${counted(n, 'session')} closed.`;
      }),
    actionForm('mod-ban', may('admin') ? 'Ban a user or an address' : 'Ban a user', [
      field('User id', el('input', { name: 'user', inputmode: 'numeric', pattern: '[0-9]+' })),
      may('admin') ? field('or address / CIDR', el('input', { name: 'address', maxlength: 64,
        placeholder: '203.0.113.7, 198.51.100.0/24, 2001:db8::/32' })) : null,
      field('For', durationSelect('ban', 'for good')), field('Reason', reason('reason'))], 'Ban', async (f) => {
      const seconds = f.get('ban');
      const user = (f.get('user') || '').trim();
      const { ban, kept } = await api('POST', '/moderation/bans', optional({ user: user ? Number(user) : '',
        address: (f.get('address') || '').trim(), seconds: seconds === '' ? '' : Number(seconds), reason: f.get('reason') }));
      refresh();
      return kept ? keptText('ban', ban.until) : 'Banned: their open sessions are closed.';
    }),
  ];

  panel.append(el('h1', {}, 'Moderation'),
    el('p', { class: 'muted' }, 'Moderators act on users below their rank; banning an address and deleting a private message take an admin.'),
    el('div', { class: 'forms' }, forms),
    el('h2', {}, 'Muted'),
    el('table', { class: 'grid', dataset: { testid: 'mutes-table' } },
      el('thead', {}, el('tr', {}, ['User', 'Where', 'Until', 'Reason', ''].map((h) => el('th', {}, h)))), mutes),
    el('h2', {}, 'Banned'),
    el('table', { class: 'grid', dataset: { testid: 'bans-table' } },
      el('thead', {}, el('tr', {}, [may('admin') ? 'User or address' : 'User', 'Until', 'Reason', '']
        .map((h) => el('th', {}, h)))), bans),
    listStatus);
  refresh();
}

export const tab = { id: 'moderation', title: 'Moderation', role: 'moderator', mount, show: () => {} };
