// The sidebar: rooms with online counts, private conversations, unread
// badges, and the form that creates a room.

import { bdi, h, setChildren, srOnly, syncList } from './dom.js';
import { isolate, userTag } from './text.js';
import { lock } from './marks.js';
import { unreadBadge } from './badges.js';
import { t } from './i18n.js';

const byName = (a, b) => a.name.localeCompare(b.name, undefined, { sensitivity: 'base' });

export class Sidebar {
  /**
   * els: {rooms, conversations, noConversations, createForm, newRoom, newTopic, createError}
   * actions: {openRoom(name), openConversation(user), closeConversation(view),
   *           createRoom(name, topic) → Promise<error text | null>}
   */
  constructor(els, store, actions) {
    this.els = els;
    this.store = store;
    this.actions = actions;
    this.roomItems = new Map();
    this.convItems = new Map();
    for (const type of ['rooms', 'views', 'current']) store.on(type, () => this.render());
    els.createForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.create();
    });
    els.newRoom.addEventListener('input', () => this.showCreateError(''));
  }

  render() {
    this.renderRooms();
    this.renderConversations();
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
    const items = [...rooms.entries()].map(([key, r]) => ({ key, ...r, view: store.views.get(key) || null }));
    items.sort(byName);
    syncList(this.els.rooms, this.roomItems, items, (r) => r.key,
      (r) => h('li', {}, h('button', { type: 'button', class: 'nav-item', onclick: () => this.actions.openRoom(r.name) })),
      (li, r) => this.updateRoom(li.firstChild, r));
  }

  updateRoom(button, r) {
    const view = r.view;
    const joined = Boolean(view && view.wanted);
    const current = this.store.current === r.key;
    button.dataset.testid = 'room-' + r.name;
    button.className = 'nav-item' + (joined ? ' joined' : '') + (current ? ' current' : '');
    button.title = r.topic ? isolate(r.topic) : '';
    if (current) button.setAttribute('aria-current', 'page');
    else button.removeAttribute('aria-current');
    const online = r.online === null || r.online === undefined ? '' : String(r.online);
    setChildren(button,
      h('span', { class: 'nav-name' }, h('span', { class: 'sigil', 'aria-hidden': 'true' }, '#'), bdi(r.name),
        lock(r.members_only)),
      joined ? srOnly(', joined') : null,
      online ? h('span', { class: 'nav-online', title: online + ' online' }, srOnly(', online: '), online) : null,
      unreadBadge(view && view.wanted ? view : null),
    );
  }

  renderConversations() {
    const { store, els } = this;
    const views = store.dmViews();
    const newest = (v) => (v.ids.length ? v.ids[v.ids.length - 1] : 0);
    views.sort((a, b) => newest(b) - newest(a) || byName(a, b));
    syncList(els.conversations, this.convItems, views, (v) => v.key,
      (v) => h('li', { class: 'nav-row' },
        h('button', { type: 'button', class: 'nav-item', onclick: () => this.actions.openConversation(v.peer) }),
        h('button', { type: 'button', class: 'nav-close icon-button', onclick: () => this.actions.closeConversation(v) },
          h('span', { 'aria-hidden': 'true' }, '✕'))),
      (li, v) => this.updateConversation(li.firstChild, v));
    els.noConversations.hidden = views.length > 0;
  }

  updateConversation(button, view) {
    const current = this.store.current === view.key;
    button.dataset.testid = 'conversation-' + view.name;
    button.className = 'nav-item' + (current ? ' current' : '');
    button.title = isolate(view.name) + ' ' + userTag(view.peer.id);
    if (current) button.setAttribute('aria-current', 'page');
    else button.removeAttribute('aria-current');
    setChildren(button,
      h('span', { class: 'nav-name' }, h('span', { class: 'sigil', 'aria-hidden': 'true' }, '@'), bdi(view.name)),
      srOnly(', private conversation'),
      unreadBadge(view),
    );
    const close = button.nextSibling;
    close.dataset.testid = 'close-conversation-' + view.name;
    close.setAttribute('aria-label', t('sidebar.close_conversation', { name: isolate(view.name) }));
  }

  async create() {
    const { newRoom, newTopic } = this.els;
    const name = newRoom.value.trim();
    if (!name) {
      this.showCreateError('Type a name for the new room.');
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
