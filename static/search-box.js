// The search box: a query sent as `search` (docs/protocol.md, "search"), its results with
// their context (room or conversation, author, time, the matched words marked), pages of
// older results, and a click that jumps to the message in its room (client.js, jumpTo).
// Text from others always becomes text nodes (dom.js), never markup.

import { bdi, h, setChildren } from './dom.js';
import { fill, formatDateTime, formatDay, formatNumber, formatTime, plural, t } from './i18n.js';
import { errorText } from './refusals.js';

const PAGE = 20;

function when(ts) {
  return h('time', { datetime: new Date(ts).toISOString(), title: formatDateTime(ts) },
    `${formatDay(ts)} ${formatTime(ts)}`);
}

/** Where a result was said: its room, or the other person of a private conversation. */
function where(result, me) {
  if (result.room !== undefined) return ['#', bdi(result.room)];
  const other = me && result.from.id === me.id ? result.to : result.from;
  return fill(t('search.with'), { name: bdi(other.name) });
}

/** The snippet's parts: even ones plain text, odd ones the matched words (marked). */
function snippet(parts) {
  return parts.map((part, i) => (i % 2 ? h('mark', {}, part) : part));
}

export class SearchBox {
  /**
   * els: {form, input, panel, status, list, more, close};
   * actions: {search(frame) → Promise<results frame>, jump(result)}
   */
  constructor(els, store, actions) {
    this.els = els;
    this.store = store;
    this.actions = actions;
    this.query = '';
    this.last = null; // the id the next page is below
    els.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.start(els.input.value.trim());
    });
    els.more.addEventListener('click', () => this.load());
    els.close.addEventListener('click', () => this.close());
    // Esc in the box or the results closes them (keyboard.js closes them from elsewhere).
    els.panel.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        this.close();
        els.input.focus();
      }
    });
    els.input.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !els.panel.hidden) {
        e.preventDefault();
        this.close();
      }
    });
  }

  start(query) {
    if (!query) {
      this.close();
      return;
    }
    this.query = query;
    this.last = null;
    this.els.list.replaceChildren();
    this.els.panel.hidden = false;
    this.load();
  }

  isOpen() {
    return !this.els.panel.hidden;
  }

  close() {
    this.els.panel.hidden = true;
    this.query = '';
  }

  async load() {
    const { els } = this;
    const query = this.query;
    const frame = { type: 'search', q: query, limit: PAGE };
    if (this.last !== null) frame.before = this.last;
    els.more.hidden = true;
    setChildren(els.status, t('search.searching'));
    let answer;
    try {
      answer = await this.actions.search(frame);
    } catch (err) {
      if (query === this.query) {
        setChildren(els.status, err.code === 'disconnected' ? t('search.offline') : errorText(err));
      }
      return;
    }
    if (query !== this.query) return; // another search started meanwhile
    for (const result of answer.results) {
      els.list.append(h('li', {},
        h('button', {
          type: 'button', class: 'search-result', 'data-testid': 'search-result', 'data-id': result.id,
          onclick: () => {
            this.close();
            this.actions.jump(result);
          },
        },
        h('span', { class: 'search-meta' }, h('span', { class: 'search-where' }, where(result, this.store.me)), ' · ',
          bdi(result.from.name, { class: 'search-author' }), ' · ', when(result.ts)),
        h('span', { class: 'search-snippet', dir: 'auto' }, snippet(result.snippet)))));
      this.last = result.id;
    }
    els.more.hidden = !answer.more;
    const count = els.list.children.length;
    const shown = formatNumber(count) + (answer.more ? '+' : '');
    setChildren(els.status, count ? plural('search.results', count, { count: shown, query }) : t('search.none', { query }));
  }
}
