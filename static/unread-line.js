// Where the user left off, in the message list (messages-view.js): a "New messages" line above the
// first message from others after last_read as it was when the view opened (docs/protocol.md,
// "joined") — or after what the user saw arrive, when messages come while the tab is hidden —,
// the list opened at that line, and a "Jump to latest" button while scrolled up that
// counts the messages from others that arrived below. It follows the list's own store events, after the list
// (app.js builds it second), so the list's items are in place when it looks. When the user goes back
// to the view's latest messages — Jump to latest, sending, scrolling down to them, or loading newer
// ones until a jump's gap closes at the bottom — it says so (store event `latest`): the address
// then names the view, not the message jumped to (deep-links.js).

import { h } from './dom.js';
import { plural, t } from './i18n.js';

const AWAY_PX = 120;       // further than this from the bottom is "scrolled up"
const LINE_MARGIN_PX = 8;  // the line opened at sits this far below the top of the pane
// Older pages fetched to find where the user left off before the list opens at the oldest held.
const SEEK_PAGES = 5;

export class UnreadLine {
  /**
   * els: {scroller, list, anchor: the list's ScrollAnchor}; store: the Store;
   * actions: {loadOlder(view), showLatest(view): the view's latest page in place of a gap (client.js)}
   */
  constructor(els, store, actions) {
    this.els = els;
    this.store = store;
    this.actions = actions;
    this.key = null;
    this.after = null;   // the line goes above the first message from others with a larger id; null: not known yet
    this.placed = false; // the list was opened at the line since the view opened
    this.newest = 0;     // the newest id the list holds: a larger one arrived below
    this.below = 0;      // messages from others that arrived below while scrolled up
    this.sought = 0;     // older pages fetched since the view opened to find the first unread
    this.gap = false;    // the view had a gap after a jump (jump.js) when last looked at
    // A plain item of the list, as the day separators are: role=separator would leave the <ol> holding
    // a child that is not a list item, which screen readers trip over (axe's rule "list").
    this.line = h('li', { class: 'unread-line', 'data-testid': 'unread-line' }, h('span', {}, t('messages.new_line')));
    this.jump = h('button', {
      type: 'button', class: 'jump-latest', 'data-testid': 'jump-latest', hidden: true, onclick: () => this.toLatest(),
    });
    els.scroller.append(this.jump);
    store.on('current', () => (store.current === this.key ? this.place() : this.opened()));
    store.on('cleared', ({ key }) => key === this.key && this.opened());
    store.on('readstate', ({ key }) => key === this.key && this.place());
    store.on('messages', ({ key, ids, live }) => key === this.key && this.arrived(ids, live));
    store.on('older', ({ key }) => key === this.key && this.place());
    store.on('newer', ({ key }) => key === this.key && this.newerLoaded());
    els.scroller.addEventListener('scroll', () => this.showJump(), { passive: true });
    els.scroller.addEventListener('reader-at-bottom', () => this.atLatest());
  }

  view() {
    return this.key ? this.store.views.get(this.key) || null : null;
  }

  // Another view on screen, or this one's messages replaced (a fresh join).
  opened() {
    this.key = this.store.current;
    const view = this.view();
    this.after = view ? view.lastRead : null;
    this.placed = false;
    this.below = 0;
    this.sought = 0;
    this.newest = view && view.ids.length ? view.ids[view.ids.length - 1] : 0;
    this.gap = Boolean(view) && view.gapAfter !== null;
    this.line.remove();
    this.place();
    this.showJump();
  }

  // Messages added to the list; `live` ones the user saw arrive (the tab visible, no line shown)
  // need no line: it goes above what comes while they are away. The user's own, written here or
  // on another device, are not new to them (the sender has read its own messages: docs/protocol.md,
  // "Read state"), so Jump to latest does not count them.
  arrived(ids, live) {
    const news = ids.filter((id) => id > this.newest);
    if (news.length) this.newest = Math.max(...news);
    const view = this.view();
    if (live && view && !this.line.isConnected && this.store.isWatched(this.key)) {
      this.after = Math.max(this.after ?? view.lastRead ?? 0, ...ids);
    }
    // An id the view no longer holds (refilled meanwhile) is nobody's here: counted, never read.
    const fromOthers = view ? news.filter((id) => {
      const m = view.messages.get(id);
      return !m || !this.store.isMine(m);
    }) : [];
    if (this.awayFromBottom()) this.below += fromOthers.length;
    this.place();
    this.showJump();
  }

  /** The item the line goes above: the first message from others after `after`, or null. */
  firstUnread(view) {
    let found = null;
    for (let i = view.ids.length - 1; i >= 0 && view.ids[i] > this.after; i--) {
      if (!this.store.isMine(view.messages.get(view.ids[i]))) found = view.ids[i];
    }
    return found === null ? null : this.els.list.querySelector(`:scope > li[data-id="${found}"]`);
  }

  place() {
    const view = this.view();
    if (!view) return;
    if (this.after === null) this.after = view.lastRead;
    if (this.after === null) return;
    const first = this.firstUnread(view);
    if (!first) {
      this.line.remove();
      return;
    }
    // Above the day's separator when the message opens a day, so the list keeps that separator.
    const before = first.previousElementSibling;
    const anchor = before && before.classList.contains('day-sep') ? before : first;
    if (!this.placed && this.seeking(view, first)) return;
    if (anchor.previousElementSibling !== this.line) anchor.before(this.line);
    if (!this.placed) {
      this.placed = true;
      this.openAtLine();
    }
  }

  // The first unread held is the oldest held and older history exists: the user left off further
  // back. Fetch it (a few pages at most) before opening the list at the line; `older` comes back here.
  seeking(view, first) {
    if (Number(first.dataset.id) !== view.oldestId() || view.olderMore === false || this.sought >= SEEK_PAGES) return false;
    if (!view.loadingOlder) {
      this.sought += 1;
      this.actions.loadOlder(view);
    }
    return true;
  }

  // The list opens at the line when it would be above the pane at the bottom, and stays there
  // while what is around it changes height (scroll-anchor.js).
  openAtLine() {
    const { anchor } = this.els;
    if (anchor.offsetOf(this.line) < 0) anchor.toItem(this.line, LINE_MARGIN_PX);
  }

  awayFromBottom() {
    const s = this.els.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight > AWAY_PX;
  }

  showJump() {
    const away = this.awayFromBottom();
    if (!away) this.below = 0;
    this.jump.hidden = !away;
    this.jump.textContent = this.below ? plural('messages.jump_new', this.below) : t('messages.jump_latest');
  }

  // Newer messages loaded after a jump: once its gap closes with the list at its bottom, the latest show.
  newerLoaded() {
    const view = this.view();
    const closed = this.gap && view && view.gapAfter === null;
    this.gap = Boolean(view) && view.gapAfter !== null;
    if (closed && this.els.anchor.atBottom()) this.atLatest();
  }

  // At the bottom, by the user's doing: the view's latest messages are on screen unless a jump's gap
  // is still below what is held.
  atLatest() {
    const view = this.view();
    if (view && view.gapAfter === null) this.store.emit('latest', { key: this.key });
  }

  /**
   * To the bottom of the list, the newest messages (Jump to latest, or the user sent one). After a
   * jump far back (a gap after the messages held) the view starts again from its latest page, as
   * Back to it does: however far the jump went, the latest show, not the page after the jump. Unlike
   * opening the view, it stays at the bottom rather than at a "New messages" line.
   */
  toLatest() {
    const view = this.view();
    if (view && view.gapAfter !== null) {
      this.actions.showLatest(view); // cleared: opened() has run, and the latest page is on its way
      this.placed = true;
    }
    this.els.anchor.toBottom();
    this.showJump();
    this.atLatest();
  }
}
