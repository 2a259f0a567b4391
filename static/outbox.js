// The page's says not acknowledged yet: shown under the messages, kept across
// reloads (this tab's sessionStorage), and sent through chatd-client.js, which
// resends each with its cid until the server acks it, so it is stored once
// (docs/protocol.md, "say").
//
// A pending say: {cid, userId, key, room | to:{id,name}, text, ts, state: 'sending' | 'failed', error,
// editable?: false when no edit can get it past, replyTo?: {id, from, text}}
// A failed say (a permanent refusal) stays, also across reloads, until the
// user edits or deletes it; nothing sends it again by itself. It is offered for
// editing only when what is sent is to blame (EDITABLE): no edit gets a message
// to a deleted account, into an archived room or past a mute.

import { randomId } from './connection.js';
import { saved } from './persist.js';
import { wellFormed } from './wellformed.js';
import { t } from './i18n.js';
import { errorText } from './refusals.js';

// The refusals of a say that a changed message can get past (docs/protocol.md, "say"): its text, its
// files or the message it replies to (edited, it goes as a new message, without them), or the user
// it was written as (`other_user`: the page's own).
const EDITABLE = new Set(['text_too_long', 'empty_text', 'bad_frame', 'bad_attachment', 'no_such_message',
  'message_deleted', 'other_user']);

export class Outbox {
  /** chat: the ChatdClient; toast(text) */
  constructor(chat, store, toast) {
    this.chat = chat;
    this.store = store;
    this.toast = toast;
    this.prefix = 'c' + randomId(6) + '-'; // a cid must be unique per user for as long as the message lives
    this.count = 0;
  }

  /** Bring back the says a reload interrupted. */
  restore() {
    for (const p of saved.outbox.get()) {
      if (!p || !p.cid || !p.key || (!p.text && !(p.attachments && p.attachments.length))) continue;
      p.text = wellFormed(p.text); // saved by an older page, perhaps
      if (p.room) this.store.ensureRoom(p.room);
      else if (p.to) this.store.ensureDm(p.to);
      else continue;
      this.store.setPending(p);
      if (p.state === 'sending') this.send(p);
    }
  }

  save() {
    const list = [...this.store.pending.values()];
    saved.outbox.set(list.length ? list : null);
  }

  /** Send `text` with `attachments` (uploaded files: upload-tray.js) to `view`; replyTo: the message
   * this one answers (docs/protocol.md, "Replies"), or null. */
  add(view, text, attachments = [], replyTo = null) {
    this.count += 1;
    const p = {
      cid: this.prefix + this.count,
      userId: this.store.me ? this.store.me.id : null,
      key: view.key,
      text: wellFormed(text), // what is shown is what the server stores
      ts: Date.now(),
      state: 'sending',
      error: '',
    };
    if (attachments.length) p.attachments = attachments;
    if (view.kind === 'room') p.room = view.name;
    else p.to = { id: view.peer.id, name: view.peer.name };
    // What the reply shows of the original until the server's own copy comes.
    if (replyTo) p.replyTo = { id: replyTo.id, from: { ...replyTo.from }, text: [...replyTo.text].slice(0, 200).join('') };
    this.store.setPending(p);
    this.save();
    this.send(p);
  }

  // The client sends it whenever it can and keeps it until acked: a cid is
  // only unique per user, so it goes out only as the user who wrote it.
  send(p) {
    const say = { cid: p.cid, text: p.text, userId: p.userId };
    if (p.attachments) say.attachments = p.attachments.map((a) => a.id);
    if (p.replyTo) say.replyTo = p.replyTo.id;
    if (p.room) say.room = p.room;
    else say.to = p.to.id;
    this.chat.say(say).then((ack) => this.acked(p, ack), (err) => this.refused(p, err));
  }

  acked(p, ack) {
    const { store } = this;
    if (!store.pending.has(p.cid)) return;
    store.noteServerTime(ack.ts);
    // Show the stored message at once, under its real id; the `message` frame
    // that follows carries the same id and is then a no-op.
    const message = { type: 'message', id: ack.id, ts: ack.ts, from: { ...store.me }, text: p.text };
    if (p.attachments) message.attachments = p.attachments;
    if (p.replyTo) message.reply_to = p.replyTo;
    if (p.room) message.room = p.room;
    else message.to = { ...p.to };
    store.removePending(p.cid);
    const view = store.views.get(p.key);
    if (view) store.add(view, [message]);
    this.save();
  }

  refused(p, err) {
    if (!this.store.pending.has(p.cid)) return; // discarded meanwhile
    if (err.code === 'other_user') {
      this.fail(p, t('outbox.other_user'), err.code);
      return;
    }
    const view = this.store.views.get(p.key);
    if (err.code === 'recipient_deleted' && view) this.store.peerDeleted(view); // it takes no more either
    this.fail(p, errorText(err), err.code);
    this.toast(t('outbox.not_sent', { why: errorText(err) }));
  }

  fail(p, message, code) {
    p.state = 'failed';
    p.error = message;
    p.editable = EDITABLE.has(code);
    this.store.setPending(p);
    this.save();
  }

  /** Take a failed say out to be changed: its text, or null. Sent again it is a new say (a new cid). */
  take(cid) {
    const p = this.store.pending.get(cid);
    if (!p || p.state !== 'failed') return null;
    this.discard(cid);
    return p.text;
  }

  discard(cid) {
    this.store.removePending(cid);
    this.save();
  }

  /** The user left the room: its unsent says go with it. */
  discardView(key) {
    for (const p of this.store.pendingFor(key)) this.store.removePending(p.cid);
    this.save();
  }
}
