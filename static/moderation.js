// The chat page's moderator actions (docs/protocol.md, "Moderation"): Delete on a message,
// and Mute / Kick / Ban on a member of the room on screen. Shown only to a user whose
// welcome says `user.roles` holds "moderator" or "admin" (store.moderates()); the server
// decides all the same, and says why it refuses.

// [label, seconds]: a mute from the member list is in the room on screen.
export const MUTES = [['Mute 10 min', 600], ['Mute 1 hour', 3600], ['Mute 1 day', 86400]];

export class Moderator {
  /** chat: the ChatdClient; toast(text): what happened, or why not. */
  constructor(chat, toast) {
    this.chat = chat;
    this.toast = toast;
  }

  async act(frame, doneText) {
    try {
      await this.chat.request(frame);
      this.toast(doneText);
    } catch (err) {
      this.toast(err.code === 'disconnected' ? 'Not connected: nothing was done.' : err.message || err.code);
    }
  }

  deleteMessage(m) {
    if (!window.confirm('Delete this message for everyone? Its text is removed for good.')) return;
    this.act({ type: 'delete', id: m.id }, 'Message deleted.');
  }

  mute(user, room, seconds, label) {
    this.act({ type: 'mute', user: user.id, room, seconds }, `${user.name}: ${label.toLowerCase()} in #${room}.`);
  }

  kick(user) {
    const reason = window.prompt(`Kick ${user.name}: every tab of theirs is closed. Reason (shown to them):`, '');
    if (reason === null) return;
    this.act({ type: 'kick', user: user.id, reason: reason.trim() }, `${user.name} was kicked.`);
  }

  ban(user) {
    const reason = window.prompt(`Ban ${user.name} for good. Reason (shown to them):`, '');
    if (reason === null) return;
    this.act({ type: 'ban', user: user.id, reason: reason.trim() }, `${user.name} was banned.`);
  }
}
