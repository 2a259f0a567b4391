// The sidebar: rooms with their online counts, private conversations, unread
// badges, the form that creates a room (opened by the "+" by the Rooms
// heading, above the list, so it is never below every room), and a ✕ that
// closes a conversation. Both lists follow the `sort` setting (prefs.js).
// The room list comes as events (client.js: one `rooms` listing per
// connection, then the server's `room` events): nothing here polls.

import { bdi, h, setChildren, srOnly, syncList } from './dom.js';
import { isolate, userTag } from './text.js';
import { lock } from './marks.js';
import { plural, t } from './i18n.js';
import { onPref, pref } from './prefs.js';
import { unreadBadge } from './badges.js';
import { urgencyOf } from './readstate.js';

const byName = (a, b) => a.name.localeCompare(b.name, undefined, { sensitivity: 'base' });
// Message ids grow with time across the server, so the newest id held is a view's latest activity.
const newest = (view) => (view && view.ids.length ? view.ids[view.ids.length - 1] : 0);

/**
 * Order sidebar entries ({name, urgency, activity}) by `how` (prefs.js CHOICES.sort):
 * 'unread' (by urgency, readstate.js urgencyOf: mentions, then unread messages the level shows,
 * then by activity), 'activity' (latest first), 'name'.
 * Ties fall back to the name, so the order is stable. Sorts in place and returns the array.
 */
export function sortEntries(entries, how) {
  const byActivity = (a, b) => b.activity - a.activity || byName(a, b);
  const compare = {
    unread: (a, b) => b.urgency - a.urgency || byActivity(a, b),
    activity: byActivity,
    name: byName,
  }[how] || byName;
  return entries.sort(compare);
}


export class Sidebar {
  /**
   * els: {rooms, conversations, noConversations, createForm, createToggle, newRoom, newTopic, createError}
   * actions: {openRoom(name), openConversation(user), closeConversation(view),
   *           createRoom(name, topic) → Promise<error text | null>}
   */
  constructor(els, store, actions) {
    this.els = els;
    this.store = store;
    this.actions = actions;
    this.roomItems = new Map();
    this.convItems = new Map();
    // `messages`: a new message changes the order by activity (and its own are not unread).
    for (const type of ['rooms', 'views', 'current', 'messages', 'connection']) store.on(type, () => this.render());
    onPref((name) => name === 'sort' && this.render());
    els.createToggle.addEventListener('click', () => this.showCreate(els.createForm.hidden));
    els.createForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.create();
    });
    els.createForm.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.stopPropagation(); // the form, not a drawer behind it
        this.showCreate(false);
      }
    });
    els.newRoom.addEventListener('input', () => this.showCreateError(''));
  }

  render() {
    this.renderRooms();
    this.renderConversations();
  }

  /** The keys of the rooms the user is in and of the conversations, in the order shown (Alt+↑/↓). */
  order() {
    const keys = [];
    for (const li of [...this.els.rooms.children, ...this.els.conversations.children]) {
      if (li.dataset.joined === 'true') keys.push(li.dataset.key);
    }
    return keys;
  }

  renderRooms() {
    const { store } = this;
    // The server's list, plus rooms we are in that it did not list yet (just created).
    const rooms = new Map([...store.rooms].map(([key, r]) => [key, { ...r }]));
    for (const view of store.roomViews()) {
      if (view.wanted && !rooms.has(view.key)) {
        rooms.set(view.key, { name: view.name, topic: view.topic, online: null, members_only: view.membersOnly });
      }
    }
    const items = [...rooms.entries()].map(([key, r]) => {
      const view = store.views.get(key) || null;
      return { key, ...r, view, urgency: urgencyOf(view && view.wanted ? view : null), activity: newest(view) };
    });
    sortEntries(items, pref('sort'));
    syncList(this.els.rooms, this.roomItems, items, (r) => r.key,
      (r) => h('li', { 'data-key': r.key },
        h('button', { type: 'button', class: 'nav-item', onclick: () => this.actions.openRoom(r.name) })),
      (li, r) => this.updateRoom(li, r));
  }

  updateRoom(li, r) {
    const button = li.firstChild;
    const view = r.view;
    const joined = Boolean(view && view.wanted);
    const current = this.store.current === r.key;
    li.dataset.joined = String(joined);
    button.dataset.testid = 'room-' + r.name;
    button.className = 'nav-item' + (joined ? ' joined' : '') + (current ? ' current' : '');
    button.title = r.topic ? isolate(r.topic) : '';
    if (current) button.setAttribute('aria-current', 'page');
    else button.removeAttribute('aria-current');
    // While disconnected nobody is known to be online: no count rather than an old one.
    const online = typeof r.online === 'number' && this.store.connected ? plural('sidebar.online', r.online) : '';
    setChildren(button,
      h('span', { class: 'nav-name' }, h('span', { class: 'sigil', 'aria-hidden': 'true' }, '#'), bdi(r.name),
        lock(r.members_only)),
      joined ? srOnly(', ' + t('sidebar.joined')) : null,
      // Muted words, never a number alone: a count of people must not look like the unread badge.
      online ? h('span', { class: 'nav-online', 'data-testid': 'room-online' }, srOnly(', '), online) : null,
      unreadBadge(view && view.wanted ? view : null),
    );
  }

  renderConversations() {
    const { store, els } = this;
    const items = store.dmViews().map((view) => ({ key: view.key, name: view.name, view, urgency: urgencyOf(view),
      activity: newest(view) }));
    sortEntries(items, pref('sort'));
    syncList(els.conversations, this.convItems, items, (c) => c.key,
      (c) => h('li', { class: 'nav-row', 'data-key': c.key, 'data-joined': 'true' },
        h('button', { type: 'button', class: 'nav-item', onclick: () => this.actions.openConversation(c.view.peer) }),
        h('button', { type: 'button', class: 'nav-close icon-button', onclick: () => this.close(c.view) },
          h('span', { 'aria-hidden': 'true' }, '✕'))),
      (li, c) => this.updateConversation(li, c.view));
    els.noConversations.hidden = items.length > 0;
  }

  updateConversation(li, view) {
    const [button, close] = li.children;
    const current = this.store.current === view.key;
    button.dataset.testid = 'conversation-' + view.name;
    button.className = 'nav-item joined' + (current ? ' current' : '');
    button.title = view.peer.unnamed ? view.name : isolate(view.name) + ' ' + userTag(view.peer.id);
    if (current) button.setAttribute('aria-current', 'page');
    else button.removeAttribute('aria-current');
    setChildren(button,
      h('span', { class: 'nav-name' }, h('span', { class: 'sigil', 'aria-hidden': 'true' }, '@'),
        view.peer.deleted ? view.title() : bdi(view.name)), // a deleted account: the page's words, not the server's
      srOnly(', ' + t('sidebar.private_conversation')),
      unreadBadge(view),
    );
    const label = t('sidebar.close_conversation', { name: isolate(view.name) });
    close.setAttribute('aria-label', label);
    close.title = label;
    close.dataset.testid = 'close-conversation-' + view.name;
  }

  // The focus must not fall to the page's start when its button goes: it moves to the next entry, or the heading's.
  close(view) {
    const li = this.convItems.get(view.key);
    const next = li && (li.nextElementSibling || li.previousElementSibling);
    this.actions.closeConversation(view);
    (next ? next.firstChild : this.els.createToggle).focus();
  }

  /** Open (and focus) or close the new-room form. */
  showCreate(open) {
    const { createForm, createToggle, newRoom } = this.els;
    createForm.hidden = !open;
    createToggle.setAttribute('aria-expanded', String(open));
    if (open) newRoom.focus();
    else {
      this.showCreateError('');
      createToggle.focus();
    }
  }

  async create() {
    const { newRoom, newTopic } = this.els;
    const name = newRoom.value.trim();
    if (!name) {
      this.showCreateError(t('sidebar.create_empty'));
      newRoom.focus();
      return;
    }
    const error = await this.actions.createRoom(name, newTopic.value.trim());
    if (error) {
      this.showCreateError(error);
      newRoom.focus();
    } else {
      newRoom.value = '';
      newTopic.value = '';
      this.showCreateError('');
      this.els.createForm.hidden = true;
      this.els.createToggle.setAttribute('aria-expanded', 'false');
    }
  }

  showCreateError(text) {
    const { createError, newRoom } = this.els;
    createError.textContent = text;
    createError.hidden = !text;
    if (text) newRoom.setAttribute('aria-invalid', 'true');
    else newRoom.removeAttribute('aria-invalid');
  }
}
