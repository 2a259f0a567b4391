// The chat log tab: every message, newest first, filtered by room, user, time and text (the
// search index), a keyset page at a time; the filtered set exported as CSV or JSON Lines.
// Each message found can be deleted from its row (the moderation API; audited by the server).
import { t } from '../i18n.js';
import { api, el, formatTime, grid, latest, may, refusal } from './admin.js';

const PAGE = 50;

/** "YYYY-MM-DDTHH:MM" of an <input type=datetime-local>, read in the viewer's zone, as ms; '' → null. */
function localMs(value) {
  if (!value) return null;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? null : ms;
}

/** Where a message was: its room, or the two people of a private conversation. */
function where(m) {
  return m.room !== null ? `#${m.room}` : t('admin.log.private', { from: m.from.name, to: m.to.name });
}

/** The text cell: a tombstone as deleted; with a search, the snippet with its matches marked. */
function textCell(m) {
  if (m.deleted) return el('td', { class: 'wrap muted' }, el('em', {}, t('admin.log.deleted')));
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
    el('td', {}, deletable ? el('button', { type: 'button', class: 'danger', 'aria-label': t('admin.log.delete_label', { id: m.id }),
      dataset: { testid: 'log-delete' }, onclick: () => onDelete(m) }, t('admin.delete')) : null),
  ];
}

function mount(panel) {
  const field = (name, label, attrs = {}) => {
    const input = el('input', { name, dataset: { testid: `log-${name}` }, ...attrs });
    return [input, el('label', {}, label, input)];
  };
  const any = t('admin.log.any');
  const [room, roomLabel] = field('room', t('admin.log.room'), { placeholder: any, maxlength: 200 });
  const [user, userLabel] = field('user', t('admin.log.user'), { placeholder: any, maxlength: 200 });
  const [since, sinceLabel] = field('since', t('admin.log.from'), { type: 'datetime-local' });
  const [until, untilLabel] = field('until', t('admin.log.until'), { type: 'datetime-local' });
  const [text, textLabel] = field('q', t('admin.log.text'), { type: 'search', placeholder: t('admin.log.text_placeholder'),
    maxlength: 200 });
  const body = el('tbody');
  const more = el('button', { type: 'button', hidden: true, dataset: { testid: 'log-more' } }, t('admin.older'));
  const status = el('p', { class: 'muted', role: 'status' });
  const privacy = el('p', { class: 'muted', dataset: { testid: 'log-privacy' } });
  const csv = el('a', { class: 'button', download: 'chatd-log.csv', dataset: { testid: 'log-export-csv' } },
    t('admin.log.export_csv'));
  const jsonl = el('a', { class: 'button', download: 'chatd-log.jsonl', dataset: { testid: 'log-export-jsonl' } },
    t('admin.log.export_jsonl'));
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

  const ask = latest(); // filters changed while a page loads: that page is not drawn
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
    status.textContent = t('admin.loading');
    let page;
    try {
      page = await ask('GET', `${filters.has('q') ? '/search' : '/log'}?${query}`);
    } catch (e) {
      status.textContent = refusal(e);
      return;
    }
    if (!may('admin')) privacy.textContent = t('admin.log.privacy_moderator');
    else privacy.textContent = t(page.private ? 'admin.log.privacy_shown' : 'admin.log.privacy_hidden');
    for (const m of page.messages ?? page.results) {
      body.append(el('tr', { dataset: { id: m.id, testid: 'log-row' } }, cells(m, remove)));
      last = m.id;
    }
    more.hidden = !page.more;
    status.textContent = body.children.length ? '' : t('admin.log.none');
  }

  /** Delete `m` (asked first, with an optional reason for the audit log); its row then shows it deleted. */
  async function remove(m) {
    const reason = window.prompt(t('admin.log.confirm_delete', { name: m.from.name, where: where(m) }), '');
    if (reason === null) return;
    try {
      await api('POST', '/moderation/delete', reason.trim() ? { id: m.id, reason: reason.trim() } : { id: m.id });
    } catch (e) {
      status.textContent = refusal(e);
      return;
    }
    body.querySelector(`tr[data-id="${m.id}"]`)?.replaceChildren(...cells({ ...m, deleted: true }, remove));
    status.textContent = t('admin.message_deleted', { id: m.id });
  }

  const form = el('form', { class: 'filters', role: 'search', onsubmit: (e) => { e.preventDefault(); load(true); } },
    roomLabel, userLabel, sinceLabel, untilLabel, textLabel, el('button', { type: 'submit' }, t('admin.show')));
  more.addEventListener('click', () => load(false));
  panel.append(el('h1', {}, t('admin.log.title')), privacy, form, exports,
    grid('log-table', [t('admin.col.when'), t('admin.col.where'), t('admin.log.author'), t('admin.log.text'), ''], body),
    el('div', { class: 'pager' }, more, status));
  load(true);
}

export const tab = { id: 'log', title: 'admin.log.title', role: 'moderator', mount, show: () => {} };
