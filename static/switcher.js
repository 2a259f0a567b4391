// The quick switcher (Ctrl+K / ⌘K): a dialog with one field that finds a room
// or a person the page knows of (the rooms the user is in, the server's room
// list, the private conversations, and the people seen online in any room),
// filtered as the user types; ↑/↓ choose, Enter or a click opens, Esc closes.
// The field is a combobox over a listbox (WAI-ARIA practices, "Combobox with
// listbox popup"): the focus stays in the field, aria-activedescendant names
// the chosen option.

import { bdi, h, setChildren } from './dom.js';
import { roomKey, dmKey } from './store.js';
import { t } from './i18n.js';
import { userTag } from './text.js';

const SHOWN_MAX = 50; // entries listed at once: typing narrows the rest

const fold = (text) => text.normalize('NFKC').toLocaleLowerCase();

/**
 * What the switcher offers for `query` (any text; '' lists everything): entries
 * {kind: 'room', key, name, joined} and {kind: 'person', key, name, user: {id, name}, conversation},
 * each room and person once, in this order: rooms the user is in, conversations, other rooms,
 * other people; within it, names starting with the query before names merely containing it.
 * The user themself is never offered. At most SHOWN_MAX entries.
 */
export function switcherEntries(store, query) {
  const seen = new Set();
  const groups = [[], [], [], []]; // joined rooms, conversations, listed rooms, people seen
  const add = (group, entry) => {
    if (seen.has(entry.key)) return;
    seen.add(entry.key);
    groups[group].push(entry);
  };
  const room = (name, joined) => ({ kind: 'room', key: roomKey(name), name, joined });
  const person = (user, conversation) => ({ kind: 'person', key: dmKey(user.id), name: user.name,
    user: { id: user.id, name: user.name }, conversation });
  const meId = store.me ? store.me.id : null;
  for (const view of store.roomViews()) if (view.wanted) add(0, room(view.name, true));
  for (const view of store.dmViews()) add(1, person(view.peer, true));
  for (const r of store.rooms.values()) add(2, room(r.name, false));
  for (const view of store.roomViews()) {
    for (const user of view.members.values()) if (user.id !== meId) add(3, person(user, false));
  }
  const q = fold(query.trim());
  const all = groups.flat();
  if (!q) return all.slice(0, SHOWN_MAX);
  const starts = [];
  const contains = [];
  for (const entry of all) {
    const name = fold(entry.name);
    if (name.startsWith(q)) starts.push(entry);
    else if (name.includes(q)) contains.push(entry);
  }
  return [...starts, ...contains].slice(0, SHOWN_MAX);
}

function describe(entry) {
  if (entry.kind === 'room') return t(entry.joined ? 'switcher.room_joined' : 'switcher.room');
  return t(entry.conversation ? 'switcher.conversation' : 'switcher.person');
}

export class QuickSwitcher {
  /**
   * els: {dialog, input, list, none}
   * actions: {openRoom(name), openConversation(user)}
   */
  constructor(els, store, actions) {
    this.els = els;
    this.store = store;
    this.actions = actions;
    this.entries = [];
    this.active = 0;
    this.returnFocus = null;
    els.input.addEventListener('input', () => this.render());
    els.input.addEventListener('keydown', (e) => this.key(e));
    els.dialog.addEventListener('close', () => {
      if (this.returnFocus && this.returnFocus.isConnected) this.returnFocus.focus();
      this.returnFocus = null;
    });
    // A click on the backdrop (outside the dialog's box) closes it, as Esc does.
    els.dialog.addEventListener('click', (e) => e.target === els.dialog && this.close());
  }

  isOpen() {
    return this.els.dialog.open;
  }

  open() {
    if (this.isOpen()) return;
    this.returnFocus = document.activeElement;
    this.els.input.value = '';
    this.render();
    this.els.dialog.showModal();
    this.els.input.focus();
  }

  close() {
    this.els.dialog.close();
  }

  render() {
    const { list, none, input } = this.els;
    this.entries = switcherEntries(this.store, input.value);
    this.active = 0;
    setChildren(list, this.entries.map((entry, i) => h('li', {
      id: `switcher-option-${i}`, role: 'option', class: 'switcher-option', 'data-testid': 'switcher-option',
      'data-key': entry.key, onclick: () => this.choose(i),
    },
    h('span', { class: 'sigil', 'aria-hidden': 'true' }, entry.kind === 'room' ? '#' : '@'),
    bdi(entry.name, { class: 'switcher-name' }),
    entry.kind === 'person' ? h('span', { class: 'user-tag' }, userTag(entry.user.id)) : null,
    h('span', { class: 'switcher-kind' }, describe(entry)))));
    none.hidden = this.entries.length > 0;
    this.highlight();
  }

  highlight() {
    const { list, input } = this.els;
    [...list.children].forEach((li, i) => li.setAttribute('aria-selected', String(i === this.active)));
    const chosen = list.children[this.active];
    if (chosen) {
      input.setAttribute('aria-activedescendant', chosen.id);
      chosen.scrollIntoView({ block: 'nearest' });
    } else {
      input.removeAttribute('aria-activedescendant');
    }
  }

  key(e) {
    const n = this.entries.length;
    if ((e.key === 'ArrowDown' || e.key === 'ArrowUp') && n) {
      e.preventDefault();
      this.active = (this.active + (e.key === 'ArrowDown' ? 1 : -1) + n) % n;
      this.highlight();
    } else if (e.key === 'Enter' && !e.isComposing && e.keyCode !== 229) { // not while an IME picks a candidate
      e.preventDefault();
      if (n) this.choose(this.active);
    }
  }

  choose(i) {
    const entry = this.entries[i];
    this.returnFocus = null; // the view it opens takes the focus (keyboard.js: the composer)
    this.close();
    if (entry.kind === 'room') this.actions.openRoom(entry.name);
    else this.actions.openConversation(entry.user);
  }
}
