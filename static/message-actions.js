// What the user may do to a message, as buttons in its header. A part of message-item.js.
// A moderator may delete room messages; private ones only an admin (chatd.moderation).

import { h } from './dom.js';
import { t } from './i18n.js';
import { isolate } from './text.js';

/** The actions on m for this user, or null. */
export function messageActions(m, ctx) {
  const deletable = m.room !== undefined ? ctx.store.moderates() : ctx.store.moderates('admin');
  if (!deletable) return null;
  return h('button', {
    type: 'button', class: 'link msg-delete', 'data-testid': 'delete-message',
    'aria-label': t('message.delete_from', { name: isolate(m.from.name) }),
    onclick: () => ctx.actions.deleteMessage(m),
  }, t('message.delete'));
}
