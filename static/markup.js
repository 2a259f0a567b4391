// The text of a message. A part of message-item.js.

import { h } from './dom.js';

/** The body of m: its text as text. */
export function renderBody(m, _ctx) {
  return h('p', { class: 'msg-text', dir: 'auto' }, m.text);
}
