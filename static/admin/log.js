// The chat log tab: every message, newest first, filtered by room, user, time and text (the
// search index), a keyset page at a time; the filtered set exported as CSV or JSON Lines.
// Each message found can be deleted from its row (the moderation API; audited by the server).
import { api, el, formatTime, may } from './admin.js';

const PAGE = 50;

/** "YYYY-MM-DDTHH:MM" of an <input type=datetime-local>, read in the viewer's zone, as ms; '' → null. */
function localMs(value) {
  if (!value) return null;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? null : ms;
}

/** Where a message was: its room, or the two people of a private conversation. */
function where(m) {
  return m.room !== null ? `#${m.room}` : `${m.from.name} → ${m.to.name} (private)`;
}

/** The text cell: a tombstone as deleted; with a search, the snippet with its matches marked. */
function textCell(m) {
  if (m.deleted) return el('td', { class: 'wrap muted' }, el('em', {}, 'deleted'));
  if (!m.snippet) return el('td', { class: 'wrap' }, m.text);
  return el('td', { class: 'wrap', title: m.text },
    m.snippet.map((part, i) => (i % 2 ? el('mark', {}, part) : part)));
}

/** The cells of a message's row: when, where, who, text, and Delete (`onDelete`) while it has its text. */
function cells(m, onDelete) {
  // A private message is deleted by an admin only (the server refuses a moderator: no button).
  const deletable = !m.deleted && (m.room !== null || may('admin'));
  return [
    el('td', {}, formatTime(m.ts)),
    el('td', {}, where(m)),
    el('td', {}, m.from.name),
    textCell(m),
    el('td', {}, deletable ? el('button', { type: 'button', class: 'danger', 'aria-label': `Delete message ${m.id}`,
      dataset: { testid: 'log-delete' }, onclick: () => onDelete(m) }, 'Delete') : null),
  ];
}

function mount(panel) {
  const field = (name, label, attrs = {}) => {
    const input = el('input', { name, dataset: { testid: `log-${name}` }, ...attrs });
    return [input, el('label', {}, label, input)];
  };
  const [room, roomLabel] = field('room', 'Room', { placeholder: 'any', maxlength: 200 });
  const [user, userLabel] = field('user', 'User (name or id)', { placeholder: 'any', maxlength: 200 });
  const [since, sinceLabel] = field('since', 'From', { type: 'datetime-local' });
  const [until, untilLabel] = field('until', 'Until', { type: 'datetime-local' });
  const [text, textLabel] = field('q', 'Text', { type: 'search', placeholder: 'words or 会议', maxlength: 200 });
  const body = el('tbody');
  const more = el('button', { type: 'button', hidden: true, dataset: { testid: 'log-more' } }, 'Older');
  const status = el('p', { class: 'muted', role: 'status' });
  const privacy = el('p', { class: 'muted', dataset: { testid: 'log-privacy' } });
  const csv = el('a', { class: 'button', download: 'chatd-log.csv', dataset: { testid: 'log-export-csv' } }, 'Export CSV');
  const jsonl = el('a', { class: 'button', download: 'chatd-log.jsonl', dataset: { testid: 'log-export-jsonl' } },
    'Export JSON Lines');
  const exports = el('p', { class: 'exports', hidden: !may('admin') }, csv, ' ', jsonl);
  let last = null; // the id the next page is below
  let filters = new URLSearchParams();

  function readFilters() {
    const query = new URLSearchParams();
    for (const [name, input] of [['room', room], ['user', user], ['q', text]]) {
      if (input.value.trim()) query.set(name, input.value.trim());
    }
    for (const [name, input] of [['since', since], ['until', until]]) {
      const ms = localMs(input.value);
      if (ms !== null) query.set(name, String(Math.max(0, ms)));
    }
    return query;
  }

  async function load(reset) {
    if (reset) {
      filters = readFilters();
      body.replaceChildren();
      last = null;
      csv.href = `/admin/api/log/export?${new URLSearchParams([...filters, ['format', 'csv']])}`;
      jsonl.href = `/admin/api/log/export?${new URLSearchParams([...filters, ['format', 'jsonl']])}`;
    }
    const query = new URLSearchParams([...filters, ['limit', String(PAGE)]]);
    if (last !== null) query.set('before', String(last));
    status.textContent = 'Loading…';
    let page;
    try {
      page = await api('GET', `${filters.has('q') ? '/search' : '/log'}?${query}`);
    } catch (e) {
      status.textContent = e.message;
      return;
    }
    privacy.textContent = page.private
      ? 'Private messages are shown: admin.read_private is on in the server\'s config.'
      : 'Private messages are not shown (admin.read_private is off in the server\'s config).';
    for (const m of page.messages ?? page.results) {
      body.append(el('tr', { dataset: { id: m.id, testid: 'log-row' } }, cells(m, remove)));
      last = m.id;
    }
    more.hidden = !page.more;
    status.textContent = body.children.length ? '' : 'No message matches.';
  }

  /** Delete `m` (asked first, with an optional reason for the audit log); its row then shows it deleted. */
  async function remove(m) {
    const reason = window.prompt(`Delete this message by ${m.from.name} (${where(m)})? `
      + 'Every open page drops it. Reason (optional, kept in the audit log):', '');
    if (reason === null) return;
    try {
      await api('POST', '/moderation/delete', reason.trim() ? { id: m.id, reason: reason.trim() } : { id: m.id });
    } catch (e) {
      status.textContent = e.message;
      return;
    }
    body.querySelector(`tr[data-id="${m.id}"]`)?.replaceChildren(...cells({ ...m, deleted: true }, remove));
    status.textContent = `Message ${m.id} deleted: every open page has dropped it.`;
  }

  const form = el('form', { class: 'filters', role: 'search', onsubmit: (e) => { e.preventDefault(); load(true); } },
    roomLabel, userLabel, sinceLabel, untilLabel, textLabel, el('button', { type: 'submit' }, 'Show'));
  more.addEventListener('click', () => load(false));
  panel.append(el('h1', {}, 'Chat log'), privacy, form, exports,
    el('table', { class: 'grid', dataset: { testid: 'log-table' } },
      el('thead', {}, el('tr', {}, ['When', 'Where', 'Author', 'Text', ''].map((h) => el('th', { scope: 'col' }, h)))),
      body),
    el('div', { class: 'pager' }, more, status));
  load(true);
}

export const tab = { id: 'log', title: 'Chat log', role: 'moderator', mount, show: () => {} };
