// What the user may do to a message, as buttons in its header: Reply, React, Copy link, Edit and Delete
// their own within the server's window (message-changes.js), a moderator's Delete of anyone's
// (moderation.js: room messages; private ones only an admin). And the "(edited)" mark.
// A part of message-item.js.

import { h } from './dom.js';
import { t } from './i18n.js';
import { isolate } from './text.js';
import { editedMark } from './message-edit.js';
import { reactButton } from './reactions.js';

function action(testid, label, text, onclick) {
  return h('button', { type: 'button', class: 'link msg-action', 'data-testid': testid, 'data-focus': testid,
    'aria-label': label, onclick }, text);
}

/** The actions on m for this user (and its edited mark), or null. */
export function messageActions(m, ctx) {
  if (m.deleted) return null;
  const name = isolate(m.from.name);
  const own = ctx.actions.mayChange(m);
  const moderated = m.room !== undefined ? ctx.store.moderates() : ctx.store.moderates('admin');
  return h('span', { class: 'msg-actions' },
    editedMark(m),
    action('reply-message', t('message.reply_to', { name }), t('message.reply'), () => ctx.actions.reply(m)),
    reactButton(m, ctx),
    action('copy-link', t('message.copy_link_label'), t('message.copy_link'), () => ctx.actions.copyLink(m)),
    own ? action('edit-message', t('message.edit_own'), t('message.edit'), () => ctx.actions.startEdit(m)) : null,
    own ? action('delete-own', t('message.delete_own'), t('message.delete'), () => ctx.actions.deleteOwn(m))
      : moderated ? h('button', {
        type: 'button', class: 'link msg-action msg-delete', 'data-testid': 'delete-message',
        'data-focus': 'delete-message', 'aria-label': t('message.delete_from', { name }), onclick: () => ctx.actions.deleteMessage(m),
      }, t('message.delete')) : null);
}
