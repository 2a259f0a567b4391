// A moderator's actions from the chat page: delete a message, mute (in a
// room, for a chosen time, with an optional reason: the mute dialog), kick,
// ban. Each says what happened (a mute that left a longer one in force: that one), or why not, in a toast. Deleting is confirmed first (confirm-dialog.js).

import { errorText, formatDateTime, t } from './i18n.js';
import { excerpt, isolate } from './text.js';

const NOT_CONNECTED = 'disconnected';

export class Moderator {
  /**
   * chat: the ChatdClient; toast(text): what happened, or why not.
   * muteDialog: {dialog, form, heading, duration (a select of seconds, '' for no end), reason, cancel}
   * confirm: confirm-dialog.js ConfirmDialog
   */
  constructor(chat, toast, muteDialog, confirm) {
    this.chat = chat;
    this.toast = toast;
    this.confirm = confirm;
    this.muteEls = muteDialog;
    this.muting = null; // {user, room} while the mute dialog is open
    muteDialog.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submitMute();
    });
    muteDialog.cancel.addEventListener('click', () => muteDialog.dialog.close());
  }

  /** Send frame; toast doneText, or keptText(answer.kept) when a mute or ban left a longer one in force. */
  async act(frame, doneText, keptText = null) {
    try {
      const answer = await this.chat.request(frame);
      this.toast(answer && answer.kept && keptText ? keptText(answer.kept) : doneText);
    } catch (err) {
      this.toast(err.code === NOT_CONNECTED ? t('moderation.offline') : errorText(err));
    }
  }

  async deleteMessage(m) {
    const yes = await this.confirm.ask({ question: t('moderation.delete_confirm'), detail: excerpt(m), yes: t('message.delete') });
    if (yes) this.act({ type: 'delete', id: m.id }, t('moderation.deleted'));
  }

  /** Open the mute dialog for user in room (a native modal <dialog>: Esc closes it, focus stays inside). */
  mute(user, room) {
    const { dialog, heading, duration, reason } = this.muteEls;
    this.muting = { user, room };
    heading.textContent = t('moderation.mute_heading', { name: isolate(user.name), room: `#${isolate(room)}` });
    duration.selectedIndex = 0;
    reason.value = '';
    dialog.showModal();
    duration.focus();
  }

  submitMute() {
    const { dialog, duration, reason } = this.muteEls;
    const { user, room } = this.muting;
    const frame = { type: 'mute', user: user.id, room };
    if (duration.value) frame.seconds = Number(duration.value);
    const why = reason.value.trim();
    if (why) frame.reason = why;
    const how = duration.selectedOptions[0].textContent;
    dialog.close();
    const names = { name: isolate(user.name), room: `#${isolate(room)}` };
    // A mute never shortens one in force (docs/protocol.md, "Moderation"): the answer names the one that stays.
    this.act(frame, t('moderation.muted', { ...names, duration: how }), (kept) => (kept.until === null
      ? t('moderation.mute_kept_unmuted', names) : t('moderation.mute_kept', { ...names, until: formatDateTime(kept.until) })));
  }

  kick(user) {
    const reason = window.prompt(t('moderation.kick_prompt', { name: isolate(user.name) }), '');
    if (reason === null) return;
    this.act({ type: 'kick', user: user.id, reason: reason.trim() }, t('moderation.kicked', { name: isolate(user.name) }));
  }

  ban(user) {
    const reason = window.prompt(t('moderation.ban_prompt', { name: isolate(user.name) }), '');
    if (reason === null) return;
    this.act({ type: 'ban', user: user.id, reason: reason.trim() }, t('moderation.banned', { name: isolate(user.name) }));
  }
}
