// When the page tells the server how far the user has read (docs/protocol.md, "Read state"): when
// the newest message visible on screen changes while the tab is visible — after opening a view,
// scrolling, a message arriving, the tab coming back. Paced: what changes within READ_EVERY_MS is
// folded into one `read`, sent with the id visible at that moment (the per-connection rate bucket
// is shared with say, so reading must not cost a message its place).

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
    this.timer = null;
    this.sentAt = 0;
    const check = () => this.schedule();
    els.scroller.addEventListener('scroll', check, { passive: true });
    document.addEventListener('visibilitychange', check);
    window.addEventListener('focus', check);
    for (const type of ['current', 'readstate']) store.on(type, check);
    store.on('messages', ({ key }) => key === store.current && check());
    store.on('older', ({ key }) => key === store.current && check());
  }

  schedule() {
    if (this.timer !== null || document.visibilityState !== 'visible') return;
    const wait = Math.max(0, this.sentAt + READ_EVERY_MS - Date.now());
    // After the DOM change that asked settles (a list redrawn, scrolled to its place).
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, wait);
  }

  flush() {
    const view = this.store.currentView();
    if (!view || document.visibilityState !== 'visible') return;
    const id = newestVisibleId(this.els.scroller, this.els.list);
    if (id === null || (view.lastRead !== null && id <= view.lastRead)) return;
    if (this.attention.read(view, id)) this.sentAt = Date.now();
  }
}
