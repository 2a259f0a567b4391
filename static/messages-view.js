// The message list of the view on screen: incremental inserts in id order,
// pending and failed says at the end, scroll-to-top loading of older history. Where the list
// stays as it changes is its ScrollAnchor's (scroll-anchor.js): at the bottom when opened.

import { h, redraw, setChildren } from './dom.js';
import { viewLabel } from './chat-header.js';
import { messageItem } from './message-item.js';
import { measureFolds } from './body.js';
import { decorateList, everyMidnight } from './day-marks.js';
import { t } from './i18n.js';

const NEAR_TOP_PX = 80;

const two = (n) => String(n).padStart(2, '0');

/** "HH:MM" of a Date in local time (notifications.js and search-box.js show times with it). */
export function clock(date) {
  return two(date.getHours()) + ':' + two(date.getMinutes());
}

export class MessagesView {
  /**
   * els: {scroller, list, older, empty, anchor: the list's ScrollAnchor};
   * actions: {loadOlder(view), loadNewer(view)}, and what the parts of a message use (message-item.js ctx.actions:
   *   edit(cid), discard(cid), deleteMessage(m), …)
   */
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
    this.gapItem = null; // the <li> of the "Load newer messages" button (renderNewer)
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
    store.on('changed', ({ key, id }) => key === this.key && this.replace(id));
    store.on('cleared', ({ key }) => key === this.key && this.reset());
    store.on('pending', ({ key }) => key === this.key && this.renderPending());
    store.on('older', ({ key }) => {
      if (key !== this.key) return;
      this.renderOlder();
      this.fillIfShort(); // the page that just arrived may still not fill the pane
    });
    store.on('newer', ({ key }) => key === this.key && this.renderNewer());
    store.on('focus', ({ key, id }) => key === this.key && this.focus(id));
    els.scroller.addEventListener('scroll', () => this.onScroll(), { passive: true });
    els.older.addEventListener('click', () => this.loadOlder());
    everyMidnight(() => this.decorate()); // "Today" becomes "Yesterday" with the page left open
    this.newer = h('button', {
      type: 'button', class: 'load-older link', 'data-testid': 'load-newer',
      onclick: () => this.view() && this.actions.loadNewer(this.view()),
    });
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
    this.renderNewer();
    measureFolds([this.els.list]);
    this.els.anchor.toBottom();
    this.fillIfShort();
  }

  /** Bring message `id` into sight and mark it (a search result jumped to), until another is. */
  focus(id) {
    const li = this.nodes.get(id);
    if (!li) return;
    for (const old of this.els.list.querySelectorAll('.msg.highlight')) {
      old.classList.remove('highlight');
      old.removeAttribute('tabindex');
    }
    li.classList.add('highlight');
    li.setAttribute('tabindex', '-1');
    li.focus({ preventScroll: true });
    this.els.anchor.toItem(li, Math.max(0, (this.els.scroller.clientHeight - li.offsetHeight) / 2)); // centred
  }

  // A gap after a jump (jump.js): an item holding the button that fills it, right after
  // the newest message before the gap.
  renderNewer() {
    const view = this.view();
    const { newer } = this;
    const after = view && view.gapAfter !== null ? this.nodes.get(view.gapAfter) : null;
    newer.disabled = Boolean(view && view.loadingNewer);
    newer.textContent = t(view && view.loadingNewer ? 'messages.loading_newer' : 'messages.load_newer');
    if (!this.gapItem) this.gapItem = h('li', { class: 'gap' }, newer);
    if (after) after.after(this.gapItem);
    else this.gapItem.remove();
  }

  // Day separators and grouped headers (day-marks.js) over the messages shown, then the pending says.
  decorate() {
    const view = this.view();
    if (!view) return;
    const items = [];
    for (const id of view.ids) {
      const li = this.nodes.get(id);
      if (li) items.push([view.messages.get(id), li]);
    }
    const me = this.store.me || { id: '', name: '' };
    for (const p of this.store.pendingFor(this.key)) {
      const li = this.pendingNodes.get(p.cid);
      if (li) items.push([{ ...p, from: me }, li]);
    }
    decorateList(this.els.list, items);
  }

  /** The context message-item.js gives every part of a message of this list. */
  itemContext() {
    return { store: this.store, actions: this.actions, view: this.view() };
  }

  messageNode(m) {
    return messageItem(m, this.itemContext());
  }

  /**
   * A message shown changed (a tombstone, an edit, reactions, edited in place): its new item takes
   * its place at once, with its React chooser open again if it was and the focus where it was (dom.js redraw).
   */
  replace(id) {
    const old = this.nodes.get(id);
    const view = this.view();
    if (!old || !view) return;
    redraw(old, () => {
      const li = this.messageNode(view.messages.get(id));
      old.replaceWith(li);
      this.nodes.set(id, li);
      this.decorate();
      measureFolds([li]);
      this.els.anchor.restore();
      return li;
    });
  }

  pendingNode(p) {
    const me = this.store.me || { id: '', name: '' };
    return messageItem({ ...p, from: me }, this.itemContext(), { pending: true });
  }

  /** Add messages where their ids say, keeping the reader's place. */
  insert(ids) {
    const view = this.view();
    if (!view) return;
    const added = [];
    // Highest first: then the next higher id of each is already on the page.
    for (const id of [...ids].sort((a, b) => b - a)) {
      if (this.nodes.has(id) || !view.messages.has(id)) continue;
      const li = this.messageNode(view.messages.get(id));
      this.nodes.set(id, li);
      const next = view.ids[view.ids.indexOf(id) + 1];
      const before = (next !== undefined && this.nodes.get(next)) || this.pendingNodes.values().next().value || null;
      this.els.list.insertBefore(li, before);
      added.push(li);
    }
    this.decorate();
    this.settle(added);
    this.renderOlder();
    this.fillIfShort();
  }

  // Pending says go last, in the order they were written. A node whose say
  // has not changed is left alone, so the live region does not read it again.
  renderPending() {
    const pending = this.store.pendingFor(this.key);
    const cids = new Set(pending.map((p) => p.cid));
    const added = [];
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
      if (old) {
        redraw(old, () => {
          old.replaceWith(li);
          return li;
        });
      } else this.els.list.append(li); // a new say is the newest
      this.pendingNodes.set(p.cid, li);
      this.pendingShown.set(p.cid, shown);
      added.push(li);
    }
    this.decorate();
    this.settle(added);
  }

  /**
   * Items just put in the list: their folds measured, then the list back at its anchor — a reader
   * at the bottom stays at the bottom, a reader further up keeps seeing the same messages when some
   * were added above. (The anchor's observer would too, after layout; the parts that follow the
   * store's events after this list, unread-line.js and read-tracker.js, look at positions at once.)
   */
  settle(items) {
    if (items.length) measureFolds(items);
    this.els.anchor.restore();
  }

  renderOlder() {
    const view = this.view();
    const { older, empty } = this.els;
    const hasOlder = Boolean(view) && view.olderMore !== false && (view.kind === 'dm' || view.joined);
    older.hidden = !hasOlder;
    older.disabled = Boolean(view && view.loadingOlder);
    older.textContent = t(view && view.loadingOlder ? 'messages.loading_older' : 'messages.load_older');
    let note = [];
    if (!view) note = [t('messages.pick_room')];
    else if (view.kind === 'room' && !view.joined && !view.ids.length) note = [t('messages.joining')];
    else if (!view.ids.length && view.olderMore === false && !this.pendingNodes.size) note = [t('messages.no_messages')];
    else if (view.ids.length && view.olderMore === false) {
      const [before, after] = t('messages.beginning').split('{room}'); // the name is an element of its own
      note = [before, viewLabel(view), after];
    }
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
