// Notifications a web app pushes (`event` frames, docs/protocol.md): each is
// a toast and stays in the list behind the bell in the top bar.

import { h, setChildren, srOnly } from './dom.js';
import { formatNumber, formatTime, t } from './i18n.js';

const KEPT = 50;            // the list keeps the newest this many
const SUMMARY_CHARS = 140;  // of the payload shown in a toast or list item

/** A one-line summary of an event's payload: its JSON, cut. */
export function summary(data) {
  if (data === undefined || data === null) return '';
  const text = typeof data === 'string' ? data : JSON.stringify(data);
  return text.length > SUMMARY_CHARS ? text.slice(0, SUMMARY_CHARS - 1) + '…' : text;
}

function describe(f) {
  const where = typeof f.room === 'string' ? t('notifications.in_room', { room: `#${f.room}` }) : '';
  const about = summary(f.data);
  return `${f.name}${where}${about ? ': ' + about : ''}`;
}

export class Notifications {
  /** els: {button, count, panel, list}; toasts: the Toasts */
  constructor(els, toasts) {
    this.els = els;
    this.toasts = toasts;
    this.unseen = 0;
    els.button.addEventListener('click', () => this.toggle());
    els.panel.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault(); // this panel only (keyboard.js closes it from elsewhere too)
        this.toggle(false);
        els.button.focus();
      }
    });
  }

  /** An `event` frame arrived. */
  add(f) {
    if (typeof f.name !== 'string') return;
    const text = describe(f);
    this.toasts.show(text, 'info');
    const ts = typeof f.ts === 'number' ? new Date(f.ts) : new Date();
    const item = h('li', { class: 'notification', 'data-testid': 'notification', 'data-name': f.name },
      h('time', { datetime: ts.toISOString() }, formatTime(ts)), ' ', h('bdi', {}, text));
    this.els.list.prepend(item);
    while (this.els.list.children.length > KEPT) this.els.list.lastElementChild.remove();
    if (this.els.panel.hidden) this.unseen += 1;
    this.render();
  }

  isOpen() {
    return !this.els.panel.hidden;
  }

  toggle(open = this.els.panel.hidden) {
    this.els.panel.hidden = !open;
    this.els.button.setAttribute('aria-expanded', String(open));
    if (open) this.unseen = 0;
    this.render();
  }

  render() {
    const { button, count, list } = this.els;
    button.hidden = list.children.length === 0;
    setChildren(count, this.unseen ? [formatNumber(this.unseen), srOnly(t('notifications.new'))] : null);
    count.hidden = !this.unseen;
  }
}
