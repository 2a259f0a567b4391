// What the user does to stored messages (docs/protocol.md, "Edits and reactions", "Replies"):
// reply to one, react to one, edit and delete their own within the server's window. The state
// the parts show lives in the store: store.replying (view key → the message answered) and
// store.editing (the id being edited in place); the parts are reply.js, reactions.js,
// message-edit.js and message-actions.js.

import { messageLink } from './deep-links.js';
import { t } from './i18n.js';
import { errorText } from './refusals.js';
import { excerpt } from './text.js';

export class MessageChanges {
  /**
   * chat: the ChatdClient; toast(text); focusComposer(): give the composer's box the focus;
   * confirm: confirm-dialog.js ConfirmDialog (a deletion is confirmed first).
   */
  constructor(chat, store, toast, focusComposer, confirm) {
    this.chat = chat;
    this.confirm = confirm;
    this.store = store;
    this.toast = toast;
    this.focusComposer = focusComposer;
    store.replying = new Map();
    store.editing = null;
    store.editDraft = null; // the text typed in the box so far (message-edit.js)
    store.editWindowMs = 0; // welcome's limits.edit_window_seconds (client.js)
    this.closing = new Map(); // message id → the timer that draws it again when its window closes
    this.closed = new Set(); // ids the server said are past their window (edit_window_passed)
  }

  /** What the parts of a message may do (message-item.js ctx.actions). */
  actions() {
    return {
      reply: (m) => this.reply(m),
      copyLink: (m) => this.copyLink(m),
      toggleReaction: (m, emoji) => this.toggleReaction(m, emoji),
      startEdit: (m) => this.startEdit(m),
      saveEdit: (m, text) => this.saveEdit(m, text),
      cancelEdit: () => this.cancelEdit(),
      deleteOwn: (m) => this.deleteOwn(m),
      mayChange: (m) => this.mayChange(m),
    };
  }

  // Replies

  reply(m) {
    const view = this.store.currentView();
    if (!view) return;
    this.store.replying.set(view.key, m);
    this.store.emit('replying', { key: view.key });
    this.focusComposer();
  }

  cancelReply(key = this.store.current) {
    if (key && this.store.replying.delete(key)) this.store.emit('replying', { key });
  }

  /** The message the next say of the view on screen answers (taken: the bar closes), or null. */
  takeReply() {
    const key = this.store.current;
    const m = key ? this.store.replying.get(key) : null;
    if (m) this.cancelReply(key);
    return m || null;
  }

  // Links

  /** Put the address of `m` on the clipboard; where the page may not (plain http on a host
   * other than localhost), show it to copy by hand. */
  copyLink(m) {
    const link = messageLink(m);
    const shown = () => this.toast(t('message.link_is', { link }));
    if (!navigator.clipboard || !window.isSecureContext) {
      shown();
      return;
    }
    navigator.clipboard.writeText(link).then(() => this.toast(t('message.link_copied')), shown);
  }

  // Reactions

  /** Give `emoji`, or take it back when the user gave it already. */
  toggleReaction(m, emoji) {
    const mine = (m.reactions || []).some((r) => r.emoji === emoji && r.users.some((u) => u.id === this.store.me.id));
    this.send({ type: mine ? 'unreact' : 'react', id: m.id, emoji });
  }

  // The author's own

  /**
   * Whether the user may still edit and delete `m` (the server decides all the same). While they
   * may, the message is drawn again when the window closes, so its Edit and Delete go then.
   */
  mayChange(m) {
    if (m.deleted || !this.store.isMine(m) || this.store.editWindowMs <= 0 || this.closed.has(m.id)) return false;
    // By the server's clock (the window is the server's), as far as the page knows it: a browser whose
    // clock is off would offer Edit too long or take it away too soon.
    const left = m.ts + this.store.editWindowMs - this.store.serverNow();
    if (left > 0) this.redrawWhenClosed(m, left);
    return left > 0;
  }

  // One timer per message of the user's drawn within its window: few, and each fires once.
  redrawWhenClosed(m, left) {
    if (this.closing.has(m.id)) return;
    this.closing.set(m.id, setTimeout(() => {
      this.closing.delete(m.id);
      this.redraw(m);
    }, left + 1));
  }

  redraw(m) {
    const view = this.store.viewOf(m);
    if (view && view.messages.has(m.id)) this.store.emit('changed', { key: view.key, id: m.id });
  }

  startEdit(m) {
    this.store.editing = m.id;
    this.store.editDraft = null;
    this.store.emit('changed', { key: this.store.current, id: m.id });
  }

  cancelEdit() {
    const id = this.store.editing;
    if (id === null) return;
    this.store.editing = null;
    this.store.editDraft = null;
    this.store.emit('changed', { key: this.store.current, id });
    this.focusComposer();
  }

  async saveEdit(m, text) {
    const changed = text.trim() && text !== m.text;
    if (!changed) {
      this.cancelEdit();
      return;
    }
    if (await this.send({ type: 'edit', id: m.id, text }, m)) this.cancelEdit();
  }

  async deleteOwn(m) {
    const yes = await this.confirm.ask({ question: t('message.delete_confirm'), detail: excerpt(m), yes: t('message.delete') });
    if (yes) this.send({ type: 'delete', id: m.id }, m);
  }

  /** ↑ in an empty composer: edit the user's last message of the view on screen, if still allowed. */
  editLast() {
    const view = this.store.currentView();
    if (!view) return false;
    for (let i = view.ids.length - 1; i >= 0; i--) {
      const m = view.messages.get(view.ids[i]);
      if (m && this.store.isMine(m) && !m.deleted) {
        if (!this.mayChange(m)) return false;
        this.startEdit(m);
        return true;
      }
    }
    return false;
  }

  /**
   * Send a change to message `m` (if of the user's own); → whether the server carried it out (a
   * refusal is shown as a toast). Told the window has passed, the page stops offering the change.
   */
  async send(frame, m = null) {
    try {
      await this.chat.request(frame);
      return true;
    } catch (err) {
      this.toast(err.code === 'disconnected' ? t('message.not_connected') : errorText(err));
      if (m && err.code === 'edit_window_passed') {
        this.closed.add(m.id);
        if (this.store.editing === m.id) this.cancelEdit();
        else this.redraw(m);
      }
      return false;
    }
  }
}
