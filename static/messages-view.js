// The message list of the view on screen: incremental inserts in id order,
// pending and failed says at the end, scroll-to-top loading of older history.

import { bdi, h, setChildren, srOnly } from './dom.js';
import { viewLabel } from './chat-header.js';
import { isolate, userTag } from './text.js';
import { avatar, botBadge } from './marks.js';

const NEAR_BOTTOM_PX = 60;
const NEAR_TOP_PX = 80;

const two = (n) => String(n).padStart(2, '0');

export function clock(date) {
  return two(date.getHours()) + ':' + two(date.getMinutes());
}

function longDate(date) {
  return date.toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'medium' });
}

function stamp(ts) {
  const date = new Date(ts);
  return h('time', { datetime: date.toISOString(), title: longDate(date) }, clock(date));
}

// The author's name, with the user's tag on hover: two users may have had the same name.
function header(user, mine, ts, action = null) {
  return h('div', { class: 'msg-meta' }, avatar(user),
    bdi(user.name, { class: 'msg-author', title: isolate(user.name) + ' ' + userTag(user.id) }),
    botBadge(user), mine ? srOnly(' (you)') : null, ' ', stamp(ts), action);
}

export class MessagesView {
  /** els: {scroller, list, older, empty}; actions: {loadOlder(view), edit(cid), discard(cid), deleteMessage(m)} */
  constructor(els, store, actions) {
    this.els = els;
    this.store = store;
    this.actions = actions;
    this.key = null;
    this.nodes = new Map();        // message id → <li>
    this.pendingNodes = new Map(); // cid → <li>, kept after every message with an id
    this.pendingShown = new Map(); // cid → what its <li> shows (state, error, name), to keep an unchanged one

    store.on('current', () => {
      if (store.current !== this.key) this.reset();
      else this.renderOlder();
    });
    this.meId = null;
    store.on('me', () => {
      // "own" depends on who we are; a reconnect as the same user changes nothing.
      // So do the Delete buttons of a moderator.
      const who = store.me.id + ':' + store.moderates() + ':' + store.moderates('admin');
      if (who !== this.meId) {
        this.meId = who;
        this.reset();
      }
    });
    store.on('messages', ({ key, ids }) => key === this.key && this.insert(ids));
    store.on('deleted', ({ key, id }) => key === this.key && this.replace(id));
    store.on('cleared', ({ key }) => key === this.key && this.reset());
    store.on('pending', ({ key }) => key === this.key && this.keepingScroll(() => this.renderPending()));
    store.on('older', ({ key }) => {
      if (key !== this.key) return;
      this.renderOlder();
      this.fillIfShort(); // the page that just arrived may still not fill the pane
    });
    els.scroller.addEventListener('scroll', () => this.onScroll(), { passive: true });
    els.older.addEventListener('click', () => this.loadOlder());
  }

  view() {
    return this.key ? this.store.views.get(this.key) || null : null;
  }

  reset() {
    this.key = this.store.current;
    this.nodes.clear();
    this.pendingNodes.clear();
    this.pendingShown.clear();
    const view = this.view();
    const fragment = document.createDocumentFragment();
    if (view) {
      for (const id of view.ids) {
        const li = this.messageNode(view.messages.get(id));
        this.nodes.set(id, li);
        fragment.append(li);
      }
    }
    this.els.list.replaceChildren(fragment);
    this.renderPending();
    this.renderOlder();
    this.scrollToBottom();
    this.fillIfShort();
  }

  messageNode(m) {
    if (m.deleted) {
      // The page's choice (docs/protocol.md, "Deleted messages"): a small placeholder where it was,
      // so the conversation around it still reads in order; no author in a room, no text.
      return h('li', { class: 'msg deleted', 'data-testid': 'message', 'data-id': m.id, 'data-deleted': '' },
        h('p', { class: 'msg-text' }, 'Message deleted'));
    }
    const mine = this.store.isMine(m);
    // A moderator may delete room messages; private ones only an admin (chatd.moderation).
    const deletable = m.room !== undefined ? this.store.moderates() : this.store.moderates('admin');
    const remove = deletable ? h('button', {
      type: 'button', class: 'link msg-delete', 'data-testid': 'delete-message',
      'aria-label': `Delete the message from ${isolate(m.from.name)}`,
      onclick: () => this.actions.deleteMessage(m),
    }, 'Delete') : null;
    return h('li', { class: mine ? 'msg own' : 'msg', 'data-testid': 'message', 'data-id': m.id },
      header(m.from, mine, m.ts, remove),
      h('p', { class: 'msg-text', dir: 'auto' }, m.text));
  }

  /** A message shown became a tombstone: its placeholder takes its place at once. */
  replace(id) {
    const old = this.nodes.get(id);
    const view = this.view();
    if (!old || !view) return;
    const li = this.messageNode(view.messages.get(id));
    old.replaceWith(li);
    this.nodes.set(id, li);
  }

  pendingNode(p) {
    const failed = p.state === 'failed';
    const me = this.store.me || { id: '', name: '' };
    // Refused for good: the reason, and what the user can do. Not announced
    // here: the toast that comes with a refusal already was.
    const status = failed
      ? h('p', { class: 'msg-status', 'data-testid': 'failed-reason' }, 'Not sent: ' + p.error + ' ',
        h('button', {
          type: 'button', class: 'link', 'data-testid': 'edit-failed', 'aria-label': 'Edit the unsent message',
          onclick: () => this.actions.edit(p.cid),
        }, 'Edit'), ' ',
        h('button', {
          type: 'button', class: 'link', 'data-testid': 'delete-failed', 'aria-label': 'Delete the unsent message',
          onclick: () => this.actions.discard(p.cid),
        }, 'Delete'))
      : srOnly('(sending)');
    return h('li', {
      class: 'msg own ' + (failed ? 'failed' : 'pending'),
      'data-testid': 'message',
      'data-state': failed ? 'failed' : 'pending',
      'data-cid': p.cid,
    }, header(me, true, p.ts), h('p', { class: 'msg-text', dir: 'auto' }, p.text), status);
  }

  /** Add messages where their ids say, keeping the reader's place. */
  insert(ids) {
    const view = this.view();
    if (!view) return;
    const firstShown = this.nodes.size ? view.ids.find((id) => this.nodes.has(id)) : null;
    let above = false;
    this.keepingScroll(() => {
      // Highest first: then the next higher id of each is already on the page.
      for (const id of [...ids].sort((a, b) => b - a)) {
        if (this.nodes.has(id) || !view.messages.has(id)) continue;
        const li = this.messageNode(view.messages.get(id));
        this.nodes.set(id, li);
        const next = view.ids[view.ids.indexOf(id) + 1];
        const anchor = (next !== undefined && this.nodes.get(next)) || this.pendingNodes.values().next().value || null;
        this.els.list.insertBefore(li, anchor);
        if (firstShown !== null && firstShown !== undefined && id < firstShown) above = true;
      }
    }, () => above);
    this.renderOlder();
    this.fillIfShort();
  }

  // Pending says go last, in the order they were written. A node whose say
  // has not changed is left alone, so the live region does not read it again.
  renderPending() {
    const pending = this.store.pendingFor(this.key);
    const cids = new Set(pending.map((p) => p.cid));
    for (const [cid, li] of this.pendingNodes) {
      if (!cids.has(cid)) {
        li.remove();
        this.pendingNodes.delete(cid);
        this.pendingShown.delete(cid);
      }
    }
    for (const p of pending) {
      const shown = [p.state, p.error, this.store.me && this.store.me.name].join('\n');
      const old = this.pendingNodes.get(p.cid);
      if (old && this.pendingShown.get(p.cid) === shown) continue;
      const li = this.pendingNode(p);
      if (old) old.replaceWith(li);
      else this.els.list.append(li); // a new say is the newest
      this.pendingNodes.set(p.cid, li);
      this.pendingShown.set(p.cid, shown);
    }
  }

  /**
   * Run a DOM change; a reader at the bottom stays at the bottom, a reader
   * further up keeps seeing the same messages when some were added above.
   */
  keepingScroll(change, addedAbove = () => false) {
    const s = this.els.scroller;
    const atBottom = s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
    const fromBottom = s.scrollHeight - s.scrollTop;
    change();
    if (atBottom) this.scrollToBottom();
    else if (addedAbove()) s.scrollTop = s.scrollHeight - fromBottom;
  }

  scrollToBottom() {
    const s = this.els.scroller;
    s.scrollTop = s.scrollHeight;
  }

  renderOlder() {
    const view = this.view();
    const { older, empty } = this.els;
    const hasOlder = Boolean(view) && view.olderMore !== false && (view.kind === 'dm' || view.joined);
    older.hidden = !hasOlder;
    older.disabled = Boolean(view && view.loadingOlder);
    older.textContent = view && view.loadingOlder ? 'Loading older messages…' : 'Load older messages';
    let note = [];
    if (!view) note = ['Pick a room on the left, or click someone to talk privately.'];
    else if (view.kind === 'room' && !view.joined && !view.ids.length) note = ['Joining…'];
    else if (!view.ids.length && view.olderMore === false && !this.pendingNodes.size) note = ['No messages yet. Say hello!'];
    else if (view.ids.length && view.olderMore === false) note = ['This is the beginning of ', viewLabel(view), '.'];
    setChildren(empty, note);
    empty.hidden = !note.length;
  }

  onScroll() {
    if (this.els.scroller.scrollTop < NEAR_TOP_PX) this.loadOlder();
  }

  // Content shorter than the pane cannot be scrolled up: load more until it fills or history ends.
  fillIfShort() {
    const s = this.els.scroller;
    const view = this.view();
    if (view && view.ids.length && s.scrollHeight <= s.clientHeight + NEAR_TOP_PX) this.loadOlder();
  }

  loadOlder() {
    const view = this.view();
    if (view && view.olderMore !== false && !view.loadingOlder) this.actions.loadOlder(view);
  }
}
