// The name menu: the button with the user's name opens it; it offers to
// open the settings, change the name and sign out, of this browser or of every device.
// A menu button as the WAI-ARIA practices describe it: arrows move between
// the items, Escape closes and returns to the button, Tab or a click
// elsewhere closes.

export class MeMenu {
  /** els: {button, menu: items with data-action = settings | rename | sign-out | sign-out-everywhere};
   *  actions: {settings(), rename(), signOut(everywhere)} */
  constructor(els, actions) {
    this.els = els;
    const { button, menu } = els;
    button.addEventListener('click', () => (this.isOpen() ? this.close() : this.open()));
    menu.addEventListener('click', (e) => {
      const item = e.target.closest('[data-action]');
      if (!item) return;
      this.close();
      if (item.dataset.action === 'settings') actions.settings();
      else if (item.dataset.action === 'rename') actions.rename();
      else actions.signOut(item.dataset.action === 'sign-out-everywhere');
    });
    menu.addEventListener('keydown', (e) => this.onKey(e));
    document.addEventListener('pointerdown', (e) => {
      if (this.isOpen() && !menu.contains(e.target) && !button.contains(e.target)) this.close(false);
    });
  }

  items() {
    return [...this.els.menu.querySelectorAll('[role="menuitem"]')];
  }

  isOpen() {
    return !this.els.menu.hidden;
  }

  open() {
    this.els.menu.hidden = false;
    this.els.button.setAttribute('aria-expanded', 'true');
    this.items()[0].focus();
  }

  /** refocus: give the focus back to the button (not when the user went elsewhere). */
  close(refocus = true) {
    if (!this.isOpen()) return;
    this.els.menu.hidden = true;
    this.els.button.setAttribute('aria-expanded', 'false');
    if (refocus && !this.els.button.hidden) this.els.button.focus();
  }

  onKey(e) {
    const items = this.items();
    const at = items.indexOf(document.activeElement);
    const moves = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: items.length - 1 };
    if (e.key in moves) {
      e.preventDefault();
      items[(moves[e.key] + items.length) % items.length].focus();
    } else if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation(); // the menu, not a drawer behind it
      this.close();
    } else if (e.key === 'Tab') {
      this.close(false);
    }
  }
}
