// One message of the list as an <li>, composed of parts that live in their own modules.
//
// A part is a function `(m, ctx) => Node | null` (null: nothing to show for this message):
//   replyQuote      (reply.js)           the quoted message m replies to, above the header
//   renderBody      (body.js)            the text, with links and markup (parsed by markup.js);
//   editorPart      (message-edit.js)    in its place while the user edits it
//   attachmentsPart (attachments.js)     images and files
//   reactionsPart   (reactions.js)       the reactions under the text
//   messageActions  (message-actions.js) Reply, React, Edit, Delete…: buttons in the header
//
// m is a stored message as the server sends it (docs/protocol.md, "Messages": id, ts, from,
// text, room or to, and the optional fields edited, reply_to, reactions, attachments, mentions),
// or a pending say: {cid, ts, text, from: me, state: 'pending'|'failed', error}.
// ctx is what a part may use, the same object for every message of one list:
//   ctx.store    the Store (me, isMine(m), moderates(role), views, currentView())
//   ctx.actions  what the list's owner lets a part do: deleteMessage(m), edit(cid), discard(cid),
//                and whatever the owners of parts add in app.js (reply(m), react(m, emoji)…)
//   ctx.view     the room or conversation view the message is shown in
//   ctx.mine     m is the user's own (store.isMine(m), or a pending say)
//   ctx.pending  m is a say not yet stored (no id; no actions, no reactions)
//   ctx.mentioned m names the user with an @name (its `mentions`): highlighted, and said so
// messageItem() adds mine and pending to a copy of the list's context for each message.
// The list (messages-view.js) adds day separators and marks an item `grouped` when it continues
// its author's previous one (day-marks.js); the header stays for screen readers, style.css hides it.

import { bdi, h, srOnly } from './dom.js';
import { formatDateTime, formatTime, t } from './i18n.js';
import { isolate, userTag } from './text.js';
import { avatar, botBadge } from './marks.js';
import { replyQuote } from './reply.js';
import { renderBody } from './body.js';
import { attachmentsPart } from './attachments.js';
import { reactionsPart } from './reactions.js';
import { messageActions } from './message-actions.js';
import { editorPart } from './message-edit.js';
import { namesMe } from './readstate.js';

/** The time of a message (ms since the epoch): the time of day shown, the full date and time on hover. */
function stamp(ts) {
  return h('time', { datetime: new Date(ts).toISOString(), title: formatDateTime(ts) }, formatTime(ts));
}

// The author's name, with the user's tag on hover: two users may have had the same name.
function header(m, ctx) {
  const user = m.from;
  return h('div', { class: 'msg-meta' }, avatar(user),
    bdi(user.name, { class: 'msg-author', title: isolate(user.name) + ' ' + userTag(user.id) }),
    botBadge(user), ctx.mine ? srOnly(t('message.you')) : null,
    ctx.mentioned ? srOnly(t('message.mentions_you')) : null, ' ', stamp(m.ts),
    ctx.pending ? null : messageActions(m, ctx));
}

// The page's choice (docs/protocol.md, "Deleted messages"): a small placeholder where it was,
// so the conversation around it still reads in order; no author in a room, no text.
function deletedItem(m) {
  return h('li', { class: 'msg deleted', 'data-testid': 'message', 'data-id': m.id, 'data-deleted': '' },
    h('p', { class: 'msg-text' }, t('message.deleted')));
}

// A say refused for good: the reason, and what the user can do (edit it unless no
// edit can get it past: outbox.js EDITABLE; a say failed before the page said so
// keeps its Edit). Not announced here: the toast that comes with a refusal already was.
function pendingStatus(p, ctx) {
  if (p.state !== 'failed') return srOnly(t('message.sending'));
  const edit = p.editable !== false ? [h('button', {
    type: 'button', class: 'link', 'data-testid': 'edit-failed', 'data-focus': 'edit-failed',
    'aria-label': t('message.edit_unsent'),
    onclick: () => ctx.actions.edit(p.cid),
  }, t('message.edit')), ' '] : [];
  return h('p', { class: 'msg-status', 'data-testid': 'failed-reason' }, t('message.not_sent', { reason: p.error }) + ' ',
    ...edit,
    h('button', {
      type: 'button', class: 'link', 'data-testid': 'delete-failed', 'data-focus': 'delete-failed',
      'aria-label': t('message.delete_unsent'),
      onclick: () => ctx.actions.discard(p.cid),
    }, t('message.delete')));
}

/**
 * The <li> of message m (a stored message, a tombstone, or a pending say with ctx.pending)
 * in the list whose context is `listCtx` ({store, actions, view}).
 */
export function messageItem(m, listCtx, { pending = false } = {}) {
  if (m.deleted) return deletedItem(m);
  const ctx = { ...listCtx, pending, mine: pending || listCtx.store.isMine(m) };
  ctx.mentioned = !pending && namesMe(m, listCtx.store.me);
  const classes = ['msg'];
  if (ctx.mine) classes.push('own');
  if (ctx.mentioned) classes.push('mentioned');
  if (pending) classes.push(m.state === 'failed' ? 'failed' : 'pending');
  const props = pending
    ? { 'data-state': m.state === 'failed' ? 'failed' : 'pending', 'data-cid': m.cid }
    : { 'data-id': m.id };
  return h('li', { class: classes.join(' '), 'data-testid': 'message', ...props },
    replyQuote(m, ctx), header(m, ctx), editorPart(m, ctx) || renderBody(m, ctx), attachmentsPart(m, ctx),
    pending ? pendingStatus(m, ctx) : reactionsPart(m, ctx));
}
