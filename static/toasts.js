// Short notes in a corner (server errors, mostly) that go away by themselves.

import { bdi, h } from './dom.js';
import { t } from './i18n.js';

const SHOW_MS = 6000;
const MAX_SHOWN = 4;

export class Toasts {
  constructor(container) {
    this.container = container;
  }

  show(text, kind = 'error') {
    // The same note twice in a row would only push others out.
    const last = this.container.lastElementChild;
    if (last && last.dataset.text === text) return;
    const close = () => item.remove();
    const item = h('div', { class: 'toast ' + kind, 'data-testid': 'toast', 'data-text': text },
      bdi(text, { class: 'toast-text' }), // server notes quote names and rooms users chose
      h('button', { type: 'button', class: 'toast-close', 'aria-label': t('toast.dismiss'), onclick: close }, '×'));
    this.container.append(item);
    while (this.container.children.length > MAX_SHOWN) this.container.firstElementChild.remove();
    setTimeout(close, SHOW_MS);
  }
}
