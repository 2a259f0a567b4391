// The notification level of the view on screen (docs/protocol.md, "Notification levels"), in the
// conversation's header: all messages, mentions only, or nothing. A choice is sent as `notify`; the
// control shows the server's confirmed level (busy until it comes, back to it on a refusal).

import { h } from './dom.js';
import { t } from './i18n.js';
import { LEVELS, levelOf } from './readstate.js';

export class NotifyLevel {
  /** els: {before: the header element the control goes in front of}; attention: attention.js Attention */
  constructor(els, store, attention) {
    this.store = store;
    this.select = h('select', { class: 'notify-level', 'data-testid': 'notify-level', id: 'notify-level' },
      LEVELS.map((level) => h('option', { value: level }, t(`notify.${level}`))));
    this.label = h('label', { for: 'notify-level', class: 'sr-only' }, t('notify.label'));
    this.select.title = t('notify.label');
    els.before.before(this.label, this.select);
    this.select.addEventListener('change', () => {
      const view = store.currentView();
      if (view) attention.setLevel(view, this.select.value);
    });
    for (const type of ['current', 'readstate']) store.on(type, () => this.render());
    this.render();
  }

  render() {
    const view = this.store.currentView();
    this.select.hidden = this.label.hidden = !view;
    if (!view) return;
    const pending = view.notifyPending || null;
    this.select.value = pending || levelOf(view);
    if (pending) this.select.setAttribute('aria-busy', 'true');
    else this.select.removeAttribute('aria-busy');
  }
}
