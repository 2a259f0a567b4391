// Says the server has not acknowledged yet. Each keeps its cid for life, so
// sending it again — after a reconnect, a reload, or an `unavailable` — is
// stored once by the server however often it arrives (docs/protocol.md, "say").
//
// A pending say: {cid, userId, key, room | to:{id,name}, text, ts,
//                 state: 'sending' | 'failed', error, sentOn}
// sentOn is the connection generation it was last sent on: a say goes out at
// most once per socket. A failed say stays (also across reloads) until the
// user edits or deletes it; nothing sends it again by itself.

import { randomId } from './connection.js';
import { saved } from './persist.js';
import { wellFormed } from './wellformed.js';

const RETRY_LATER_MS = 3000;
// The only refusals the same say may get past later (docs/protocol.md, "Retry
// or not"); every other code is permanent. A lost connection is retried too.
const WORTH_A_RETRY = new Set(['unavailable', 'rate_limited']);

export class Outbox {
  constructor(conn, store, toast) {
    this.conn = conn;
    this.store = store;
    this.toast = toast;
    this.prefix = 'c' + randomId(6) + '-'; // a cid must be unique per user for as long as the message lives
    this.count = 0;
  }

  /** Bring back the says a reload interrupted. */
  restore() {
    for (const p of saved.outbox.get()) {
      if (!p || !p.cid || !p.key || !p.text) continue;
      p.sentOn = null;
      p.text = wellFormed(p.text); // saved by an older page, perhaps
      if (p.room) this.store.ensureRoom(p.room).wanted = true;
      else if (p.to) this.store.ensureDm(p.to);
      else continue;
      this.store.setPending(p);
    }
  }

  save() {
    const list = [...this.store.pending.values()].map(({ sentOn, ...p }) => p);
    saved.outbox.set(list.length ? list : null);
  }

  add(view, text) {
    this.count += 1;
    const p = {
      cid: this.prefix + this.count,
      userId: this.store.me ? this.store.me.id : null,
      key: view.key,
      text: wellFormed(text), // what is shown is what the server stores
      ts: Date.now(),
      state: 'sending',
      error: '',
      sentOn: null,
    };
    if (view.kind === 'room') p.room = view.name;
    else p.to = { id: view.peer.id, name: view.peer.name };
    this.store.setPending(p);
    this.save();
    this.send(p);
  }

  /** Send every say that can go now; `key` limits it to one view (just joined). */
  flush(key = null) {
    for (const p of this.store.pending.values()) {
      if (key === null || p.key === key) this.send(p);
    }
  }

  send(p) {
    const { conn, store } = this;
    if (p.state !== 'sending' || conn.state !== 'online' || p.sentOn === conn.generation) return;
    // A cid is only unique per user: another user's says must not go out under this one.
    if (store.me && p.userId !== null && p.userId !== store.me.id) {
      this.fail(p, 'you are signed in as someone else now; send it again if you want to');
      return;
    }
    if (p.room) {
      const view = store.views.get(p.key);
      if (!view || !view.joined) return; // goes out once `joined` arrives
    }
    p.sentOn = conn.generation;
    p.userId = store.me.id;
    const frame = { type: 'say', cid: p.cid, text: p.text };
    if (p.room) frame.room = p.room;
    else frame.to = p.to.id;
    conn.request(frame).then((ack) => this.acked(p, ack), (err) => this.refused(p, err));
  }

  acked(p, ack) {
    const { store } = this;
    if (!store.pending.has(p.cid)) return;
    // Show the stored message at once, under its real id; the `message` frame
    // that follows carries the same id and is then a no-op.
    const message = { type: 'message', id: ack.id, ts: ack.ts, from: { ...store.me }, text: p.text };
    if (p.room) message.room = p.room;
    else message.to = { ...p.to };
    store.removePending(p.cid);
    const view = store.views.get(p.key);
    if (view) {
      store.add(view, [message]);
      if (view.kind === 'dm') store.privateSince = Math.max(store.privateSince || 0, ack.id);
    }
    this.save();
  }

  refused(p, err) {
    if (!this.store.pending.has(p.cid)) return;
    if (err.code === 'disconnected') {
      p.sentOn = null; // goes again on the next connection
      return;
    }
    if (WORTH_A_RETRY.has(err.code)) {
      // unavailable, or rate_limited past the connection's own retries: the same cid, a little later
      p.sentOn = null;
      setTimeout(() => this.send(p), Math.max(RETRY_LATER_MS, err.retry_ms || 0));
      return;
    }
    this.fail(p, err.message || err.code);
    this.toast('Message not sent: ' + (err.message || err.code));
  }

  fail(p, message) {
    p.state = 'failed';
    p.error = message;
    p.sentOn = null;
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
