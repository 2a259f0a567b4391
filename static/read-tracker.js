// When the page tells the server how far the user has read (docs/protocol.md, "Read state"): when
// the newest message visible on screen changes while the tab is visible — after opening a view,
// scrolling, a message arriving, the tab coming back. Paced: what changes within READ_EVERY_MS is
// folded into one `read`, sent with the id visible at that moment (the per-connection rate bucket
// is shared with say, so reading must not cost a message its place) — or sooner, when the user
// leaves what they saw before that moment comes: another view on screen, the tab hidden, reloaded
// or closed. Else a message seen in that last second would stay unread on every device, and the
// view would open next time at a "New messages" line above it (unread-line.js).

const READ_EVERY_MS = 1000;
const SEEN_PX = 8; // a message counts as seen when this much of it is inside the scroller

/** The id of the newest message whose <li data-id> shows inside `scroller` (ids ascend down the list), or null. */
export function newestVisibleId(scroller, list) {
  const bottom = scroller.getBoundingClientRect().bottom;
  const items = list.querySelectorAll(':scope > li[data-id]');
  for (let i = items.length - 1; i >= 0; i--) {
    const box = items[i].getBoundingClientRect();
    if (box.top + SEEN_PX <= bottom && box.height > 0) return Number(items[i].dataset.id);
  }
  return null;
}

export class ReadTracker {
  /** els: {scroller, list}; attention: attention.js Attention (read(view, id) → whether it was sent) */
  constructor(els, store, attention) {
    this.els = els;
    this.store = store;
    this.attention = attention;
    this.timer = null; // a read is due (the list changed since the last one was measured)
    this.sentAt = 0;
    const check = () => this.schedule();
    els.scroller.addEventListener('scroll', check, { passive: true });
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') check();
      else this.leave(store.currentView());
    });
    window.addEventListener('focus', check);
    for (const type of ['current', 'readstate']) store.on(type, check);
    store.on('messages', ({ key }) => key === store.current && check());
    store.on('older', ({ key }) => key === store.current && check());
    store.on('leaving', ({ key }) => this.leave(store.views.get(key) || null));
  }

  schedule() {
    if (this.timer !== null || document.visibilityState !== 'visible') return;
    const wait = Math.max(0, this.sentAt + READ_EVERY_MS - Date.now());
    // After the DOM change that asked settles (a list redrawn, scrolled to its place).
    this.timer = setTimeout(() => {
      this.timer = null;
      if (document.visibilityState === 'visible') this.send(this.store.currentView());
    }, wait);
  }

  /**
   * The user leaves `view` (the list still shows it) or the page: the read due, if one is, is sent
   * now, with what shows at this moment — the one the timer would have sent for this view had the
   * user stayed, sent sooner; the next one waits READ_EVERY_MS from it (so at most one read more
   * per view left within a second).
   */
  leave(view) {
    if (this.timer === null) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.send(view);
  }

  /** Tell the server `view` (shown in the list) is read up to its newest message visible, if that is newer. */
  send(view) {
    if (!view) return;
    const id = newestVisibleId(this.els.scroller, this.els.list);
    if (id === null || (view.lastRead !== null && id <= view.lastRead)) return;
    if (this.attention.read(view, id)) this.sentAt = Date.now();
  }
}
