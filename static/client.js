// The page's side of the protocol, on top of chatd-client.js (which keeps the
// connection, the identity, exact resume and the says): it turns the client's
// events into store updates, keeps the room list, and remembers across
// reloads who the user is and where they were. The views only read the store.
// History paging is in history.js, the page's unacknowledged says in outbox.js.

import { applyRoomEvent, roomKey } from './store.js';
import { saved } from './persist.js';
import { PAGE, loadOlder } from './history.js';
import { loadAround, loadNewer } from './jump.js';
import { t } from './i18n.js';
import { errorText } from './refusals.js';
import { Attention } from './attention.js';

const DEFAULT_ROOM = 'lobby';
// Codes of a refused app token (docs/protocol.md, "identify"): only the web app can issue a new one.
const APP_TOKEN_CODES = new Set(['token_expired', 'bad_signature', 'missing_claim', 'bad_claim', 'bad_app_token']);

const isLost = (err) => err && err.code === 'disconnected';

export class ChatClient {
  /**
   * chat: the ChatdClient (chatd-client.js).
   * ui: {askName({name, error, cancellable}), toast(text), signedOut(): forget the user and start over,
   *      appTokenRefused(error), kicked({reason, cause, default}): the server ended the session (cause
   *      account_deleted: also a saved sign-in refused so), banned({reason, until}), left(room, reason): taken out by
   *      the server, event(frame), arrived(view, m): a live message was added to the view}
   */
  constructor(chat, store, outbox, ui) {
    this.chat = chat;
    this.store = store;
    this.outbox = outbox;
    this.ui = ui;
    this.renaming = false;  // a name the user typed and the server has not confirmed yet
    this.listing = null;    // the room list being fetched page by page (a Map like store.rooms), or null
    this.firstVisit = false;
    this.signingOut = false;
    this.attention = new Attention(chat, store, this, { toast: ui.toast }); // read state, levels, closing
  }

  /** appToken: a JWT the web app handed over in the page's fragment (app.js), or null. */
  start(appToken) {
    const { chat, store } = this;
    chat.on('token', ({ token }) => saved.token.set(token));
    chat.on('welcome', (d) => this.welcome(d));
    chat.on('refused', ({ error }) => this.refused(error));
    chat.on('joined', (d) => this.joined(d));
    chat.on('message', ({ message, news, live }) => this.message(message, news, live));
    chat.on('stale', ({ room }) => (room === undefined ? store.resetPrivate() : this.stale(room)));
    chat.on('room', (f) => {
      // In arrival order with the pages of a listing under way (docs/protocol.md, "rooms").
      if (this.listing) applyRoomEvent(this.listing, f.event, f.room);
      store.roomEvent(f.event, f.room);
    });
    chat.on('presence', (f) => {
      const view = store.roomView(f.room);
      if (view && view.joined) store.presence(view, f.event, f.user);
    });
    chat.on('left', ({ room, reason }) => this.left(room, reason));
    chat.on('event', (f) => {
      saved.eventsSince.set(this.chat.eventsSince);
      this.ui.event(f);
    });
    chat.on('error', (f) => this.ui.toast(errorText(f)));
    chat.on('close', () => {
      this.listing = null;
      store.disconnected();
    });
    chat.on('signedOut', () => this.signedOut()); // here, in another tab, or on another device
    chat.on('kicked', (kick) => this.ui.kicked(kick));
    chat.on('banned', (ban) => this.ui.banned(ban));
    chat.on('deleted', (f) => store.deleted(f));
    chat.on('edited', (f) => store.changedFields(f));
    chat.on('reactions', (f) => store.changedFields(f));
    chat.on('changed', ({ messages }) => store.replaceChanged(messages));
    const rooms = saved.rooms.get();
    for (const name of rooms) this.enter(store.ensureRoom(name));
    this.firstVisit = rooms.length === 0;
    this.outbox.restore();
    const where = saved.view.get();
    if (where && where.kind === 'room' && store.roomView(where.name)) store.setCurrent(roomKey(where.name));
    else if (where && where.kind === 'dm' && where.id) {
      this.openConversation(where.name ? { id: where.id, name: where.name } : store.userRef(where.id));
    }
    if (appToken) chat.identifyAs({ appToken });
    else if (saved.token.get()) chat.start();
    else this.ui.askName({ name: saved.name.get() });
  }

  /** The name form was submitted: sign in, or rename (which takes a new connection). */
  submitName(name) {
    this.renaming = true;
    this.chat.identifyAs({ name });
  }

  /** The user closed the name form without changing anything. */
  keepName() {
    this.renaming = false;
    if (this.chat.state === 'offline' && saved.token.get()) this.chat.identifyAs({}); // the token, no new name
  }

  /** Sign this browser out (everywhere: every browser and device of the user); the server ends its tokens. */
  async signOut(everywhere) {
    try {
      await this.chat.signOut(everywhere);
    } catch (err) {
      this.ui.toast(isLost(err) ? t('me.sign_out_offline') : errorText(err));
      return;
    }
    this.signedOut();
  }

  signedOut() {
    if (this.signingOut) return;
    this.signingOut = true;
    this.chat.close(); // no reconnect with a token that is no longer valid
    this.ui.signedOut();
  }

  // Identity

  refused(err) {
    if (APP_TOKEN_CODES.has(err.code)) {
      this.ui.appTokenRefused(err);
      return;
    }
    if (err.code === 'bad_token' && err.cause === 'account_deleted') { // it never signs in again: start over
      this.chat.close();
      this.ui.kicked({ cause: err.cause });
      return;
    }
    const { store } = this;
    const name = this.chat.name || (store.me && store.me.name) || saved.name.get();
    // A refused rename can be abandoned: the token still signs in under the old name.
    const cancellable = Boolean(saved.token.get()) && this.renaming;
    let why = errorText(err);
    if (err.code === 'bad_token') why = t('name.bad_token', { why: errorText(err) });
    else if (err.code === 'no_identity') why = '';
    this.ui.askName({ name, error: why, cancellable });
  }

  welcome({ user, frame, reset, newUser }) {
    const { store } = this;
    store.imageHosts = frame.image_hosts || []; // linked images shown inline (attachments.js)
    this.renaming = false;
    // How long the user may edit and delete their own messages (docs/protocol.md, "welcome").
    store.editWindowMs = ((frame.limits && frame.limits.edit_window_seconds) || 0) * 1000;
    if (newUser) store.resetPrivate(); // a new user: old conversations are not theirs
    if (reset) store.resetPositions(); // restored from a backup: what we show may be gone
    saved.userId.set(user.id);
    saved.name.set(user.name);
    saved.eventsSince.set(this.chat.eventsSince); // counted anew after another user or epoch
    store.setMe(user);
    store.setConnected(true);
    this.attention.welcome(frame);
    this.listRooms();
    const current = store.currentView();
    if (!current) {
      const first = store.roomViews().find((v) => v.wanted);
      if (first) this.show(first);
    } else if (current.kind === 'dm') {
      this.show(current); // its history could not be fetched while offline
    }
  }

  // news: live or missed while away; live: after the read state the server sent, so counted here.
  message(m, news, live) {
    const { store } = this;
    let view = null;
    if (m.room !== undefined) view = store.roomView(m.room);
    else if (m.to !== undefined && this.attention.keeps(m, news)) view = store.dmViewFor(m);
    if (!view) return;
    if (live) store.noteServerTime(m.ts);
    const added = store.add(view, [m], { unread: live });
    if (live && added.length) this.ui.arrived(view, m);
  }

  // Rooms

  // The room list, once per connection: page by page (docs/protocol.md, "Pages"),
  // then kept up to date by the `room` events the server sends from the first
  // page on. Events that come while the pages do go into the new list too; it
  // replaces the shown one once complete, so nothing is shown half listed.
  async listRooms() {
    const { chat, store } = this;
    const rooms = new Map();
    this.listing = rooms;
    let after = null;
    try {
      for (;;) {
        const frame = { type: 'rooms' };
        if (after !== null) frame.after = after;
        const answer = await chat.request(frame);
        const page = answer.rooms || [];
        for (const r of page) rooms.set(roomKey(r.name), r);
        if (!answer.more || !page.length) break;
        after = page[page.length - 1].name;
      }
    } catch (err) {
      if (this.listing === rooms) this.listing = null;
      if (!isLost(err)) this.ui.toast(errorText(err));
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
    const view = this.store.ensureRoom(name);
    if (!view.wanted) {
      this.enter(view);
      this.rememberRooms();
    }
    this.show(view);
  }

  // Be in a room from now on: the client joins it whenever it is online.
  enter(view) {
    view.wanted = true;
    this.chat.join(view.name).catch((err) => {
      if (!view.wanted || this.store.views.get(view.key) !== view) return; // left meanwhile
      this.ui.toast(errorText(err));
      this.forget(view);
    });
  }

  joined({ room, frame, fresh }) {
    const { store } = this;
    const view = store.roomView(room);
    if (!view) return;
    view.name = room; // the server's spelling
    view.topic = frame.topic || '';
    view.membersOnly = Boolean(frame.members_only);
    view.archived = frame.archived === true;
    view.announcement = frame.announcement === true;
    view.joined = true;
    if (fresh) {
      if (view.ids.length) store.clearView(view); // the latest page replaces what we showed
      view.olderMore = Boolean(frame.more); // latest page: `more` means older ones exist
    }
    store.setMembers(view, frame.members || []);
    this.attention.joined(view, frame);
    store.emit('views');
    if (store.current === view.key) store.emit('current');
  }

  stale(room) {
    const view = this.store.roomView(room);
    if (view) this.store.clearView(view);
  }

  /** The server took us out of a room: `reason` "removed" (no longer a member), "deleted", … */
  left(room, reason) {
    const view = this.store.roomView(room);
    if (!view) return;
    this.forget(view);
    this.ui.left(view.name, reason);
  }

  async leaveRoom(view) {
    try {
      await this.chat.leave(view.name);
    } catch (err) {
      this.ui.toast(errorText(err));
      return;
    }
    this.forget(view);
  }

  // Drop a room from the page: a later join starts fresh.
  forget(view) {
    const { store } = this;
    view.wanted = false;
    view.joined = false;
    this.chat.leave(view.name).catch(() => {}); // the client forgets it too (a no-op if it has)
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
      const answer = await this.chat.request(frame);
      this.openRoom(answer.room.name);
      return null;
    } catch (err) {
      return isLost(err) ? t('sidebar.create_offline') : errorText(err);
    }
  }

  // Conversations and history

  openConversation(user) {
    const view = this.store.ensureDm(user);
    this.show(view);
  }

  /**
   * Close a private conversation: it leaves the sidebar (and the screen, for the next view) until
   * a new message in it brings it back — on every device of the user (`close`, attention.js).
   * Nothing is deleted (unsent messages of it stay in the outbox and show again when it is opened).
   */
  closeConversation(view) {
    this.attention.close(view);
    this.dropConversation(view);
  }

  /** A conversation closed here or on another device (the `closed` frame) leaves this page. */
  dropConversation(view) {
    const { store } = this;
    const wasCurrent = store.current === view.key;
    store.removeView(view.key);
    if (wasCurrent) this.show(store.roomViews().find((v) => v.wanted) || store.dmViews()[0] || null);
  }

  show(view) {
    const { store } = this;
    store.setCurrent(view ? view.key : null);
    const name = view && !(view.peer && view.peer.unnamed) ? view.name : null;
    saved.view.set(view ? { kind: view.kind, name, id: view.peer ? view.peer.id : null } : null);
    if (view && view.ids.length < PAGE && view.olderMore !== false) this.loadOlder(view);
  }

  loadOlder(view) {
    loadOlder(this.chat, this.store, view).catch((err) => this.historyRefused(view, err));
  }

  loadNewer(view) {
    loadNewer(this.chat, this.store, view).catch((err) => this.historyRefused(view, err));
  }

  // Why history could not be had, said; a conversation with a user who does not exist (a link to
  // one, /#/u/99999999) goes, rather than stay open and empty with a message box to nobody.
  historyRefused(view, err) {
    if (isLost(err)) return;
    this.ui.toast(errorText(err));
    if (err.code === 'no_such_user' && view.kind === 'dm') this.dropConversation(view);
  }

  /** Show a search result in its room or conversation, with the history around it, highlighted. */
  async jumpTo(result) {
    const { store } = this;
    store.emit('jump', { id: result.id });
    let view;
    if (result.room !== undefined) {
      this.openRoom(result.room);
      view = store.roomView(result.room);
      await this.joinedNow(view);
    } else {
      const other = store.me && result.from.id === store.me.id ? result.to : result.from;
      view = store.ensureDm(other);
      this.show(view);
    }
    if (store.views.get(view.key) !== view) return; // not joined after all: the refusal was said
    try {
      await loadAround(this.chat, store, view, result.id);
    } catch (err) {
      this.historyRefused(view, err);
      return;
    }
    if (store.current !== view.key) return;
    if (view.messages.has(result.id)) store.emit('focus', { key: view.key, id: result.id });
    else this.ui.toast(t('links.no_such_message', { id: result.id, where: view.title() }));
  }

  /**
   * The view's latest messages held: a view that holds only the messages around one jumped to, far
   * from the latest (jump.js: a gap after them), starts again from the latest page, as a fresh one.
   */
  showLatest(view) {
    if (view.gapAfter === null) return;
    this.store.clearView(view);
    this.loadOlder(view);
  }

  // Resolves once the room's `joined` has come (its first page replaces what the view held).
  joinedNow(view) {
    if (view.joined) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (view.joined || this.store.views.get(view.key) !== view) {
          this.store.removeEventListener('views', check);
          resolve();
        }
      };
      this.store.addEventListener('views', check);
    });
  }

  /** attachments: uploaded files (upload-tray.js); replyTo: the message it answers, or null. */
  say(text, attachments = [], replyTo = null) {
    const view = this.store.currentView();
    if (view) this.outbox.add(view, text, attachments, replyTo);
  }

  /** Show message `id` of the room or conversation of message m (a reply's original), highlighted. */
  jump(m, id) {
    const view = this.store.currentView();
    if (view && view.messages.has(id)) this.store.emit('focus', { key: view.key, id });
    else this.jumpTo({ id, room: m.room, from: m.from, to: m.to });
  }
}
