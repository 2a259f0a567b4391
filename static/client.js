// The protocol flow of docs/protocol.md: identify, join and resume rooms,
// live frames, the room list, create, leave, what is on screen. It turns
// frames into store updates; the views only read the store. History paging
// is in history.js, unacknowledged says in outbox.js.

import { applyRoomEvent, roomKey } from './store.js';
import { saved } from './persist.js';
import { CATCH_UP_PAGE, PAGE, fillGap, loadOlder, withEpoch } from './history.js';

const CLOSE_SIGNED_OUT = 4401; // this sign-in, or every one of the user, was signed out (docs/protocol.md)

const DEFAULT_ROOM = 'lobby';

const isLost = (err) => err && err.code === 'disconnected';

export class ChatClient {
  /** ui: {askName({name, error, cancellable}), toast(text), signedOut(): forget the user and start over} */
  constructor(conn, store, outbox, ui) {
    this.conn = conn;
    this.store = store;
    this.outbox = outbox;
    this.ui = ui;
    this.wantedName = null; // a name the user typed and the server has not confirmed yet
    this.listing = null;    // the room list being fetched page by page (a Map like store.rooms), or null
    this.firstVisit = false;
    this.signingOut = false;
  }

  start() {
    const { conn, store } = this;
    conn.on('open', () => this.identify());
    conn.on('frame', (f) => this.onFrame(f));
    conn.on('close', ({ code }) => {
      this.listing = null;
      store.disconnected();
      if (code === CLOSE_SIGNED_OUT) this.signedOut(); // here, in another tab, or on another device
    });
    const rooms = saved.rooms.get();
    for (const name of rooms) store.ensureRoom(name).wanted = true;
    this.firstVisit = rooms.length === 0;
    this.outbox.restore();
    const where = saved.view.get();
    if (where && where.kind === 'room' && store.roomView(where.name)) store.setCurrent(roomKey(where.name));
    else if (where && where.kind === 'dm' && where.id) this.openConversation({ id: where.id, name: where.name });
    if (saved.token.get()) conn.start();
    else this.ui.askName({ name: saved.name.get() });
  }

  /** The name form was submitted: sign in, or rename (which takes a new connection). */
  submitName(name) {
    this.wantedName = name;
    if (this.conn.state === 'online') this.conn.restart();
    else this.conn.start();
  }

  /** The user closed the name form without changing anything. */
  keepName() {
    this.wantedName = null;
    if (this.conn.state === 'offline' && saved.token.get()) this.conn.start();
  }

  /** Sign this browser out (everywhere: every browser and device of the user); the server ends its tokens. */
  async signOut(everywhere) {
    try {
      await this.conn.request({ type: 'sign_out', everywhere });
    } catch (err) {
      const offline = 'Not connected, so still signed in: sign out once the connection is back.';
      this.ui.toast(isLost(err) ? offline : err.message || err.code);
      return;
    }
    this.signedOut();
  }

  signedOut() {
    if (this.signingOut) return;
    this.signingOut = true;
    this.conn.stop(); // no reconnect with a token that is no longer valid
    this.ui.signedOut();
  }

  // Identity

  async identify() {
    const { conn, store } = this;
    const token = saved.token.get();
    const frame = { type: 'identify' };
    if (token) frame.token = token;
    if (this.wantedName) frame.name = this.wantedName;
    if (!frame.token && !frame.name) {
      conn.stop();
      this.ui.askName({ name: saved.name.get() });
      return;
    }
    // Only a page that has synced private messages in memory can resume them.
    if (token && store.privateSince !== null) frame.since = store.privateSince;
    withEpoch(store, frame);
    let welcome;
    try {
      welcome = await conn.request(frame);
    } catch (err) {
      if (isLost(err)) return;
      if (err.code === 'bad_token') saved.token.set(null);
      conn.stop();
      const name = this.wantedName || (store.me && store.me.name) || saved.name.get();
      // A refused rename can be abandoned: the token still signs in under the old name.
      const cancellable = Boolean(saved.token.get()) && this.wantedName !== null;
      const why = err.code === 'bad_token' ? `Your saved sign-in no longer works (${err.message}). Pick a name.` : err.message || err.code;
      this.ui.askName({ name, error: why, cancellable });
      return;
    }
    this.wantedName = null;
    this.welcome(welcome, frame.since);
  }

  welcome(w, sentSince) {
    const { conn, store } = this;
    if (store.me && store.me.id !== w.user.id) store.resetPrivate(); // a new user: old conversations are not theirs
    if (w.reset || (store.epoch !== null && w.epoch !== store.epoch)) {
      // The database was restored from a backup: what we show may be gone, our ids may mean other messages.
      store.resetPositions();
      sentSince = undefined; // `messages` is the latest page, not a resume
    }
    store.epoch = w.epoch || null;
    saved.token.set(w.token);
    saved.userId.set(w.user.id);
    saved.name.set(w.user.name);
    store.setMe(w.user);
    store.addPrivate(w.messages || [], { unread: sentSince !== undefined });
    store.privateSince = Math.max(store.privateSince || 0, sentSince || 0);
    conn.ready();
    if (sentSince !== undefined && w.more) {
      const last = w.messages.length ? w.messages[w.messages.length - 1].id : sentSince;
      this.catchUpPrivate(last);
    }
    this.listRooms();
    for (const view of store.roomViews()) {
      if (view.wanted) this.join(view);
    }
    this.outbox.flush();
    const current = store.currentView();
    if (!current) {
      const first = store.roomViews().find((v) => v.wanted);
      if (first) this.show(first);
    } else if (current.kind === 'dm') {
      this.show(current); // its history could not be fetched while offline
    }
  }

  // The server replays at most history.replay_max private messages with
  // `welcome`; the rest, every conversation together, come from `history`
  // with neither room nor with.
  async catchUpPrivate(after) {
    try {
      for (;;) {
        const h = await this.conn.request(withEpoch(this.store, { type: 'history', after, limit: CATCH_UP_PAGE }));
        if (h.reset) this.store.resetPrivate(); // stale after all: the latest page replaces everything
        this.store.addPrivate(h.messages, { unread: !h.reset });
        if (h.reset || !h.more || !h.messages.length) return;
        after = h.messages[h.messages.length - 1].id;
      }
    } catch (err) {
      if (!isLost(err)) throw err;
    }
  }

  // Frames the server sends on its own

  onFrame(f) {
    const { store } = this;
    if (f.type === 'message') {
      if (f.room !== undefined) {
        const view = store.roomView(f.room);
        if (!view) return;
        if (view.gap && view.gap.before === null) view.gap.before = f.id; // the gap ends below the first live id
        store.add(view, [f], { unread: true });
        if (!view.gap) view.lastId = Math.max(view.lastId || 0, f.id);
      } else if (f.to !== undefined) {
        store.addPrivate([f], { unread: true });
      }
    } else if (f.type === 'room') {
      // In arrival order with the pages of a listing under way (docs/protocol.md, "rooms").
      if (this.listing) applyRoomEvent(this.listing, f.event, f.room);
      store.roomEvent(f.event, f.room);
    } else if (f.type === 'presence') {
      const view = store.roomView(f.room);
      if (view && view.joined) store.presence(view, f.event, f.user);
    } else if (f.type === 'error') {
      this.ui.toast(f.message || f.code);
    }
  }

  // Rooms

  // The room list, once per connection: page by page (docs/protocol.md, "Pages"),
  // then kept up to date by the `room` events the server sends from the first
  // page on. Events that come while the pages do go into the new list too; it
  // replaces the shown one once complete, so nothing is shown half listed.
  async listRooms() {
    const { conn, store } = this;
    const rooms = new Map();
    this.listing = rooms;
    let after = null;
    try {
      for (;;) {
        const frame = { type: 'rooms' };
        if (after !== null) frame.after = after;
        const answer = await conn.request(frame);
        const page = answer.rooms || [];
        for (const r of page) rooms.set(roomKey(r.name), r);
        if (!answer.more || !page.length) break;
        after = page[page.length - 1].name;
      }
    } catch (err) {
      if (this.listing === rooms) this.listing = null;
      if (!isLost(err)) this.ui.toast(err.message || err.code);
      return;
    }
    if (this.listing !== rooms) return; // the connection it was for is gone
    this.listing = null;
    store.setRooms(rooms);
    if (this.firstVisit) {
      this.firstVisit = false;
      const names = [...rooms.values()].map((r) => r.name);
      const first = names.find((n) => n.toLowerCase() === DEFAULT_ROOM) || names[0];
      if (first && !store.roomViews().some((v) => v.wanted)) this.openRoom(first);
    }
  }

  /** Show a room, joining it first if needed. */
  openRoom(name) {
    const { store } = this;
    const view = store.ensureRoom(name);
    if (!view.wanted) {
      view.wanted = true;
      this.rememberRooms();
      if (this.conn.state === 'online') this.join(view);
    }
    this.show(view);
  }

  async join(view) {
    const { conn, store } = this;
    if (view.joining === conn.generation) return;
    view.joining = conn.generation;
    const since = view.since();
    const frame = { type: 'join', room: view.name };
    if (since !== null) withEpoch(store, frame).since = since;
    let j;
    try {
      j = await conn.request(frame);
    } catch (err) {
      view.joining = null;
      if (isLost(err)) return;
      this.ui.toast(err.message || err.code);
      if (err.code === 'no_such_room' || err.code === 'bad_room') this.forget(view);
      return;
    }
    view.joining = null;
    if (!view.wanted) return; // left while joining
    view.name = j.room;       // the server's spelling
    view.topic = j.topic || '';
    view.joined = true;
    store.setMembers(view, j.members || []);
    const messages = j.messages || [];
    if (j.reset) store.clearView(view); // our `since` meant nothing to the server: this is the latest page
    const fresh = since === null || Boolean(j.reset);
    store.add(view, messages, { unread: !fresh });
    const last = messages.length ? messages[messages.length - 1].id : fresh ? null : since;
    if (fresh) {
      view.olderMore = !!j.more; // latest page: `more` means older ones exist
      view.lastId = last || 0;
    } else if (j.more) {
      view.gap = { after: last, before: null }; // resume cut short: the rest is fetched below
    } else {
      // Complete: every id above `since` is in the view now, so nothing is missing below the newest.
      view.gap = null;
      view.lastId = Math.max(view.lastId || 0, last || 0, view.ids[view.ids.length - 1] || 0);
    }
    store.emit('views');
    if (store.current === view.key) store.emit('current');
    this.outbox.flush(view.key);
    if (view.gap) this.report(fillGap(conn, store, view));
  }

  async leaveRoom(view) {
    if (view.joined) {
      try {
        await this.conn.request({ type: 'leave', room: view.name });
      } catch (err) {
        if (!isLost(err) && err.code !== 'not_in_room') {
          this.ui.toast(err.message || err.code);
          return;
        }
      }
    }
    this.forget(view);
  }

  // Drop a room from the page: a later join starts fresh.
  forget(view) {
    const { store } = this;
    view.wanted = false;
    view.joined = false;
    this.outbox.discardView(view.key);
    const wasCurrent = store.current === view.key;
    store.removeView(view.key);
    this.rememberRooms();
    if (wasCurrent) {
      const next = store.roomViews().find((v) => v.wanted) || store.dmViews()[0];
      this.show(next || null);
    }
  }

  rememberRooms() {
    saved.rooms.set(this.store.roomViews().filter((v) => v.wanted).map((v) => v.name));
  }

  /** Create a room and go there. Resolves with the server's refusal text, or null. */
  async createRoom(name, topic) {
    const frame = { type: 'create', room: name };
    if (topic) frame.topic = topic;
    try {
      const answer = await this.conn.request(frame);
      this.openRoom(answer.room.name);
      return null;
    } catch (err) {
      return isLost(err) ? 'Not connected: the room was not created.' : err.message || err.code;
    }
  }

  // Conversations and history

  openConversation(user) {
    const view = this.store.ensureDm(user);
    this.show(view);
  }

  show(view) {
    const { store } = this;
    store.setCurrent(view ? view.key : null);
    saved.view.set(view ? { kind: view.kind, name: view.name, id: view.peer ? view.peer.id : null } : null);
    if (view && view.ids.length < PAGE && view.olderMore !== false) this.loadOlder(view);
  }

  loadOlder(view) {
    this.report(loadOlder(this.conn, this.store, view));
  }

  // Background fetches: a lost connection is retried by the resume; anything else is worth a toast.
  report(promise) {
    promise.catch((err) => {
      if (!isLost(err)) this.ui.toast(err.message || err.code);
    });
  }

  say(text) {
    const view = this.store.currentView();
    if (view) this.outbox.add(view, text);
  }
}
