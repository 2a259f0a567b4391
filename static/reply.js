// Replies (docs/protocol.md, "Replies"): the quoted message above a reply, which jumps to the
// original; and the "Replying to …" bar over the composer, closed with ✕ or Esc.
// A part of message-item.js (replyQuote) and the composer's companion (ReplyBar).

import { bdi, h } from './dom.js';
import { t } from './i18n.js';
import { isolate } from './text.js';

const SNIPPET_CHARS = 120; // of the quoted text shown on one line; the server sends up to 200

const snippet = (text) => {
  const chars = [...text.replace(/\s+/g, ' ')];
  return chars.length > SNIPPET_CHARS ? chars.slice(0, SNIPPET_CHARS).join('') + '…' : chars.join('');
};

/** The quoted message m replies to, or null; a click shows the original in its place. */
export function replyQuote(m, ctx) {
  const quoted = m.reply_to;
  if (!quoted || m.deleted) return null;
  if (quoted.deleted) {
    return h('p', { class: 'msg-quote gone', 'data-testid': 'reply-quote' }, t('message.reply_to_deleted'));
  }
  return h('button', {
    type: 'button', class: 'msg-quote', 'data-testid': 'reply-quote', 'data-reply-to': quoted.id,
    'aria-label': t('message.reply_jump', { name: isolate(quoted.from.name) }),
    onclick: () => ctx.actions.jump(m, quoted.id),
  }, bdi(quoted.from.name, { class: 'msg-quote-author' }), ' ', bdi(snippet(quoted.text), { class: 'msg-quote-text' }));
}

/** The bar over the composer while the next message answers another. */
export class ReplyBar {
  /** form: the composer's form (the bar goes before it); changes: the MessageChanges. */
  constructor(form, store, changes) {
    this.store = store;
    this.text = h('span', { class: 'reply-bar-text', 'data-testid': 'reply-bar-text' });
    this.bar = h('div', { class: 'reply-bar', 'data-testid': 'reply-bar', hidden: true },
      this.text,
      h('button', {
        type: 'button', class: 'icon-button reply-bar-close', 'data-testid': 'reply-cancel',
        'aria-label': t('composer.reply_cancel'), title: t('composer.reply_cancel'),
        onclick: () => changes.cancelReply(),
      }, '✕'));
    form.before(this.bar);
    store.on('replying', () => this.render());
    store.on('current', () => this.render());
  }

  render() {
    const key = this.store.current;
    const m = key ? this.store.replying.get(key) : null;
    this.bar.hidden = !m;
    if (!m) return;
    this.text.replaceChildren(t('composer.replying_to') + ' ', bdi(m.from.name, { class: 'reply-bar-author' }),
      ': ', bdi(snippet(m.text || '')));
  }
}
