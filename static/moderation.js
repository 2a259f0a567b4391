// A moderator's actions from the chat page: delete a message (confirmed first: confirm-dialog.js);
// mute, unmute, kick and ban a person, each in the one moderation dialog of the page (ACTIONS says
// which of where, for how long and why each asks). Each says what happened, or why not, in a toast
// that names the person. The member list offers only what the user's rank may do on that person
// (offeredActions; docs/protocol.md, "Moderation": who acts on whom).

import { formatDateTime, t } from './i18n.js';
import { errorText } from './refusals.js';
import { excerpt, isolate } from './text.js';

const NOT_CONNECTED = 'disconnected';

// What each action asks: `where` (this room or everywhere), `duration` (with `noEnd`, the words of
// its choice without an end), `reason` (shown to the person); `note`, what it does; `done`, the
// toast's key once done (`<done>_everywhere` for one everywhere).
const ACTIONS = {
  mute: { where: true, duration: true, noEnd: 'moderation.until_unmuted', reason: true, done: 'moderation.muted',
    kept: 'moderation.mute_kept' },
  unmute: { where: true, done: 'moderation.unmuted' },
  kick: { reason: true, note: 'moderation.kick_note', done: 'moderation.kicked' },
  ban: { duration: true, noEnd: 'moderation.for_good', reason: true, note: 'moderation.ban_note', done: 'moderation.banned',
    kept: 'moderation.ban_kept' },
};
// Ranks (docs/protocol.md, "Moderation"): a user ref's `rank`; none is 0.
const RANKS = { moderator: 1, admin: 2 };

const rankOf = (ref) => RANKS[ref && ref.rank] || 0;

/** The actions (keys of ACTIONS, in menu order) `me` may take on `user`: none unless me's rank is above theirs. */
export function offeredActions(me, user) {
  if (!me || me.id === user.id || rankOf(me) <= rankOf(user)) return [];
  return Object.keys(ACTIONS);
}

export class Moderator {
  /**
   * chat: the ChatdClient; toast(text): what happened, or why not; confirm: confirm-dialog.js ConfirmDialog.
   * els: the moderation dialog's {dialog, form, heading, note, whereField, where, whereRoom (its option
   * for the room), durationField, duration (a select of seconds), noEnd (its option without an end),
   * reasonField, reason, submit, cancel}
   */
  constructor(chat, toast, els, confirm) {
    this.chat = chat;
    this.toast = toast;
    this.confirm = confirm;
    this.els = els;
    this.acting = null; // {action, user, room} while the dialog is open
    els.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submit();
    });
    els.cancel.addEventListener('click', () => els.dialog.close());
  }

  /**
   * Send frame; toast doneText — or, when a mute or ban left a longer one in force (the answer's
   * `kept`: one never shortens another, docs/protocol.md "Moderation"), keptText(kept) — or why not.
   */
  async act(frame, doneText, name, keptText = null) {
    try {
      const answer = await this.chat.request(frame);
      this.toast(answer && answer.kept && keptText ? keptText(answer.kept) : doneText);
    } catch (err) {
      const why = err.code === NOT_CONNECTED ? t('moderation.offline') : errorText(err);
      this.toast(name === undefined ? why : t('moderation.not_done', { name, why }));
    }
  }

  async deleteMessage(m) {
    const yes = await this.confirm.ask({ question: t('moderation.delete_confirm'), detail: excerpt(m), yes: t('message.delete') });
    if (yes) this.act({ type: 'delete', id: m.id }, t('moderation.deleted'));
  }

  /**
   * Open the dialog for `action` (a key of ACTIONS) on user ({id, name}), from room (its name): a
   * native modal <dialog>, so Esc closes it and the focus stays inside.
   */
  open(action, user, room) {
    const spec = ACTIONS[action];
    const els = this.els;
    const name = isolate(user.name);
    this.acting = { action, user, room };
    els.heading.textContent = t(`moderation.${action}_heading`, { name });
    els.note.textContent = spec.note ? t(spec.note) : '';
    els.note.hidden = !spec.note;
    els.whereField.hidden = !spec.where;
    els.whereRoom.textContent = t('moderation.where_room', { room: `#${isolate(room)}` });
    els.where.selectedIndex = 0;
    els.durationField.hidden = !spec.duration;
    els.noEnd.textContent = spec.noEnd ? t(spec.noEnd) : '';
    els.duration.selectedIndex = 0;
    els.reasonField.hidden = !spec.reason;
    els.reason.value = '';
    els.submit.textContent = t(`moderation.${action}`);
    els.submit.classList.toggle('danger', action === 'kick' || action === 'ban');
    els.dialog.showModal();
    [spec.where && els.where, spec.duration && els.duration, spec.reason && els.reason, els.submit].find(Boolean).focus();
  }

  submit() {
    const { action, user, room } = this.acting;
    const spec = ACTIONS[action];
    const els = this.els;
    const frame = { type: action, user: user.id };
    const here = Boolean(spec.where) && els.where.value === 'room';
    if (here) frame.room = room;
    if (spec.duration && els.duration.value) frame.seconds = Number(els.duration.value);
    const why = els.reason.value.trim();
    if (spec.reason && why) frame.reason = why;
    const name = isolate(user.name);
    const done = t(spec.where && !here ? `${spec.done}_everywhere` : spec.done, {
      name, room: `#${isolate(room)}`, duration: spec.duration ? els.duration.selectedOptions[0].textContent : '',
    });
    els.dialog.close();
    const keptText = spec.kept && ((kept) => (kept.until === null ? t(`${spec.kept}_no_end`, { name })
      : t(spec.kept, { name, until: formatDateTime(kept.until) })));
    this.act(frame, done, name, keptText);
  }
}
