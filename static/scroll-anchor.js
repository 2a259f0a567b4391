// Where the message list stays while what it shows changes height after it was drawn: a fold
// measured ("Show more"), an image or a font loaded, the pane resized, older messages added above.
// The list is held at one anchor — the bottom, or an item at a distance from the pane's top — and
// put back there whenever the list or the pane changes size (a ResizeObserver: after layout,
// before paint, so nothing jumps on screen). The anchor is set by whoever moves the list on purpose
// (messages-view.js, unread-line.js) and taken from the reader's own scrolling; when that scrolling
// brings the list back to the bottom, the scroller gets a `reader-at-bottom` event (unread-line.js).

const NEAR_BOTTOM_PX = 60; // a reader this close to the bottom stays at the bottom

export class ScrollAnchor {
  /** scroller: the scrolling pane; list: the <ol> of messages in it. */
  constructor(scroller, list) {
    this.scroller = scroller;
    this.list = list;
    this.anchor = null; // null: the bottom; else {item, id, top}: item's top `top` px below the pane's top
    this.setTop = null; // the scrollTop this module set last: its own scroll events are not the reader's
    const sizes = new ResizeObserver(() => this.restore());
    sizes.observe(list);
    sizes.observe(scroller);
    scroller.addEventListener('scroll', () => {
      if (this.setTop !== null && Math.abs(scroller.scrollTop - this.setTop) <= 1) return; // our own
      const away = this.anchor !== null;
      this.remember();
      if (away && this.anchor === null) scroller.dispatchEvent(new Event('reader-at-bottom'));
    }, { passive: true });
    // A message unfolded or folded by its reader stays where it is (body.js).
    list.addEventListener('keep-in-place', (e) => this.keep(e.target.closest('.messages > li') || e.target));
  }

  atBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
  }

  /** Stay at the bottom from now on. */
  toBottom() {
    this.anchor = null;
    this.restore();
  }

  /** Keep `item` (an element of the list) `top` px below the top of the pane from now on. */
  toItem(item, top) {
    this.anchor = { item, id: item.dataset.id, top };
    this.restore();
  }

  /** Keep `item` where it is on screen now. */
  keep(item) {
    this.toItem(item, this.offsetOf(item));
  }

  /** Take the anchor from where the reader is: the bottom, or the first item at the top of the pane. */
  remember() {
    if (this.atBottom()) {
      this.anchor = null;
      return;
    }
    const paneTop = this.scroller.getBoundingClientRect().top;
    const first = [...this.list.children].find((li) => li.getBoundingClientRect().bottom > paneTop);
    this.anchor = first ? { item: first, id: first.dataset.id, top: this.offsetOf(first) } : null;
  }

  offsetOf(item) {
    return item.getBoundingClientRect().top - this.scroller.getBoundingClientRect().top;
  }

  /** Put the list back at its anchor (after a change of the list's items or sizes). */
  restore() {
    const s = this.scroller;
    const { anchor } = this;
    if (!anchor) {
      s.scrollTop = s.scrollHeight;
    } else {
      // An item redrawn (an edit, a reaction) is a new element for the same message.
      if (!anchor.item.isConnected && anchor.id !== undefined) {
        anchor.item = this.list.querySelector(`:scope > li[data-id="${anchor.id}"]`) || anchor.item;
      }
      if (anchor.item.isConnected) s.scrollTop += this.offsetOf(anchor.item) - anchor.top;
    }
    this.setTop = s.scrollTop;
  }
}
