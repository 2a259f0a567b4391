// Typing hints (docs/protocol.md, "Typing"): the composer says `typing` at most every SEND_EVERY_MS
// while the user types something; the others' hints show under the message list — "ann is typing…",
// "ann and bob are typing…", "Several people are typing…" — until SHOW_MS pass without another,
// their message arrives, or they leave the room. Nothing is stored.

import { bdi, h, setChildren } from './dom.js';
import { fill, t } from './i18n.js';
import { dmKey, roomKey } from './store.js';
import { targetOf } from './attention.js';

const SEND_EVERY_MS = 3000;
const SHOW_MS = 6000;
const NAMED_MAX = 2; // more typists than this are "several people"

/** The words for the users typing ([{name}], in the order they started), as parts for an element; [] for none. */
export function typingText(users) {
  if (!users.length) return [];
  if (users.length > NAMED_MAX) return [t('typing.several')];
  if (users.length === 1) return fill(t('typing.one'), { name: bdi(users[0].name) });
  return fill(t('typing.two'), { a: bdi(users[0].name), b: bdi(users[1].name) });
}

export class Typing {
  /** els: {textarea, after: the element the hint line follows}; chat: the ChatdClient */
  constructor(els, store, chat) {
    this.store = store;
    this.chat = chat;
    this.sentAt = new Map(); // view key → when this page last said typing there
    this.typists = new Map(); // view key → Map user id → {name, timer}
    this.line = h('p', { class: 'typing', 'data-testid': 'typing', 'aria-live': 'polite' });
    els.after.after(this.line);
    els.textarea.addEventListener('input', () => this.typed(els.textarea.value));
    chat.on('typing', (f) => this.hint(f));
    chat.on('presence', (f) => f.event === 'leave' && f.user && this.stop(roomKey(f.room), f.user.id));
    store.on('messages', ({ key, ids }) => {
      const view = store.views.get(key);
      for (const id of ids) {
        const m = view && view.messages.get(id);
        if (m && m.from) this.stop(key, m.from.id);
      }
    });
    store.on('current', () => this.render());
  }

  // The user typed in the composer: say so, now and then, where they are writing.
  typed(text) {
    const view = this.store.currentView();
    if (!view || !text.trim()) return;
    const now = Date.now();
    if (now - (this.sentAt.get(view.key) || 0) < SEND_EVERY_MS) return;
    if (this.chat.tell({ type: 'typing', ...targetOf(view) })) this.sentAt.set(view.key, now);
  }

  hint(f) {
    const me = this.store.me;
    if (!f.user || typeof f.user.id !== 'number' || (me && f.user.id === me.id)) return;
    const key = f.room !== undefined ? roomKey(f.room) : dmKey(f.with);
    if (!this.typists.has(key)) this.typists.set(key, new Map());
    const users = this.typists.get(key);
    const old = users.get(f.user.id);
    if (old) clearTimeout(old.timer);
    users.set(f.user.id, { name: f.user.name, timer: setTimeout(() => this.stop(key, f.user.id), SHOW_MS) });
    if (key === this.store.current) this.render();
  }

  stop(key, userId) {
    const users = this.typists.get(key);
    const entry = users && users.get(userId);
    if (!entry) return;
    clearTimeout(entry.timer);
    users.delete(userId);
    if (key === this.store.current) this.render();
  }

  render() {
    const users = this.typists.get(this.store.current);
    setChildren(this.line, typingText(users ? [...users.values()] : []));
  }
}
