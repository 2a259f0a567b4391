// The page's keyboard shortcuts, wherever the focus is:
//   Ctrl+K / ⌘K     the quick switcher (switcher.js)
//   Alt+↑ / Alt+↓   the previous / next room or conversation, in the sidebar's order
//   Esc             closes the open menu or panel (name menu, notifications, search results,
//                   new-room form, a drawer): one per press, in that order
// and the focus: in the message box whenever another room or conversation comes on screen
// (chosen in the sidebar, the switcher, a link, a search result) and after a name is chosen.
// Parts that handle Esc themselves (dialogs, the emoji picker, completion) prevent the default,
// so one press never closes two things.

const SWITCHER_KEY = 'k';

/** The modal dialog or overlay open over the page, if any (they keep the keys to themselves). */
function modalOpen() {
  return Boolean(document.querySelector('dialog[open]')) || Boolean(document.querySelector('#app[inert]'));
}

export class Keyboard {
  /**
   * els: {composer: the message box}
   * parts: {switcher: {open()}, sidebar: {order() → view keys}, closers: [{isOpen(), close()}] (tried in order)}
   * actions: {show(view): open a room or conversation}
   */
  constructor(els, store, parts, actions) {
    this.els = els;
    this.store = store;
    this.parts = parts;
    this.actions = actions;
    this.shown = store.current;
    // Only a change of view moves the focus: `current` is announced again on a re-join, which must not.
    store.on('current', () => {
      if (store.current === this.shown) return;
      this.shown = store.current;
      if (store.current) this.focusComposer();
    });
    document.addEventListener('keydown', (e) => this.key(e));
  }

  /**
   * Put the focus in the message box, when it can take it and nothing is open over it. Not on a
   * touch screen: there the focus would raise the on-screen keyboard over the messages just chosen.
   */
  focusComposer() {
    const { composer } = this.els;
    if (composer.disabled || modalOpen() || window.matchMedia('(pointer: coarse)').matches) return;
    composer.focus({ preventScroll: true });
  }

  key(e) {
    if (e.defaultPrevented || e.isComposing) return;
    const mod = e.ctrlKey || e.metaKey;
    if (mod && !e.altKey && !e.shiftKey && e.key.toLowerCase() === SWITCHER_KEY) {
      if (modalOpen()) return;
      e.preventDefault(); // the browser's own Ctrl+K (its search bar) is left for outside the page
      this.parts.switcher.open();
    } else if (e.altKey && !mod && !e.shiftKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
      if (modalOpen()) return;
      e.preventDefault();
      this.step(e.key === 'ArrowDown' ? 1 : -1);
    } else if (e.key === 'Escape' && !modalOpen()) {
      const open = this.parts.closers.find((c) => c.isOpen());
      if (open) {
        e.preventDefault();
        open.close();
      }
    }
  }

  /** Show the room or conversation `by` places after (1) or before (-1) the current one, wrapping around. */
  step(by) {
    const keys = this.parts.sidebar.order();
    if (!keys.length) return;
    const at = keys.indexOf(this.store.current);
    const next = at < 0 ? (by > 0 ? 0 : keys.length - 1) : (at + by + keys.length) % keys.length;
    const view = this.store.views.get(keys[next]);
    if (view) this.actions.show(view);
  }
}
