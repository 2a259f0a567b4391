// chatd's browser client: a public ES module (docs/client.md) that any page
// may import from chatd, and the one the chatd page itself is built on.
//
//   import { connect } from 'https://chat.example.com/static/chatd-client.js';
//   const chat = connect({ appToken: jwtFromYourApp });
//   chat.on('message', ({ message }) => show(message));
//   await chat.join('support');
//   await chat.say({ room: 'support', text: 'hello' });
//
// It identifies (an app JWT once, then chatd's resume token), reconnects with
// backoff, resumes exactly (per room and for private messages: every message
// once, in id order, no gap; epochs honoured), resends says until acked, and
// stops for good when the server signs the user out (4401), kicks them (4410) or bans them (4403).

import { Connection, randomId } from './connection.js';
import { Joins } from './joins.js';
import { Stream } from './resume.js';
import { Says } from './says.js';

export const CLOSE_SIGNED_OUT = 4401;
export const CLOSE_KICKED = 4410;
export const CLOSE_BANNED = 4403;
const TOLD_KEPT = 100; // requests sent with tell() remembered for their refusal (the server answers within seconds)
const STATIC_PATH = /static\/(?:[0-9a-f]{16}\/)?[^/]*$/; // this module's place: <base>/static/[<version>/]<file>

/**
 * The WebSocket URL of the chatd this module was loaded from: ws(s)://host/<base>/ws.
 * @param {string} moduleUrl - defaults to this module's own URL
 * @returns {string}
 */
export function defaultUrl(moduleUrl = import.meta.url) {
  const url = new URL(moduleUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = url.pathname.replace(STATIC_PATH, 'ws');
  url.search = url.hash = '';
  return url.href;
}

/**
 * Connect to chatd and identify (docs/client.md).
 * @param {object} options
 * @param {string} [options.url] - the WebSocket URL; default: the chatd this module came from
 * @param {string} [options.appToken] - a JWT signed by your web app (used once; a resume token follows)
 * @param {string} [options.token] - a resume token from an earlier `token` event
 * @param {string} [options.name] - a guest name (if the server allows guests)
 * @param {number} [options.eventsSince] - the last stored event id seen (`client.eventsSince`), by the user of `token`
 * @param {boolean} [options.start=true] - connect at once
 * @returns {ChatdClient}
 */
export function connect(options = {}) {
  const client = new ChatdClient(options);
  if (options.start !== false) client.start();
  return client;
}

export class ChatdClient extends EventTarget {
  /** Use connect(); the options are connect()'s. */
  constructor({ url = defaultUrl(), appToken = null, token = null, name = null, eventsSince = null } = {}) {
    super();
    this.conn = new Connection(url);
    this.appToken = appToken;
    this.token = token;
    this.name = name;
    this.eventsSince = eventsSince;
    this.user = null;   // {id, name, ...} from the last welcome
    this.epoch = null;  // the database epoch every id held comes from (docs/protocol.md, "Epochs")
    this.joins = new Joins(this);
    this.private = new Stream((m, news, live) => this.emit('message', { message: m, news, live }),
      () => this.emit('stale', {}));
    this.says = new Says(this.conn, (say) => this.canSend(say));
    this.kick = null; // the kicked frame before a close with 4410
    this.ban = null; // {reason, until} once the server said this user or address is banned
    this.cidPrefix = 'c' + randomId(6) + '-';
    this.cidCount = 0;
    this.told = new Map(); // cid → a request sent with tell(), the newest TOLD_KEPT, to name it in a refusal
    const conn = this.conn;
    conn.on('state', (d) => this.emit('state', d));
    conn.on('open', () => {
      this.emit('open');
      this.identify();
    });
    conn.on('frame', (f) => this.onFrame(f));
    conn.on('close', (d) => this.closed(d));
  }

  /**
   * Listen to an event; → a function that stops listening. Events (detail):
   * state {state}, open, close {code, reason}, token {token}, welcome {user, frame, reset, newUser},
   * refused {error}, joined {room, frame, fresh}, message {message, news, live}, stale {room?},
   * left {room, reason}, presence, room, event, deleted, edited, reactions, read, notify, closed, typing (the frames),
   * changed {messages} (messages changed while away, as they are now), kicked {reason, cause, default}, signedOut {code},
   * banned {reason, until} (until: ms since the epoch, or null for good),
   * read, notify, closed, typing (the frames: the user's read state and typing hints, docs/protocol.md),
   * told {frame, error} (a request sent with tell() was refused),
   * error (an error frame that answers no request).
   * @param {string} type
   * @param {(detail: object) => void} fn
   * @returns {() => void}
   */
  on(type, fn) {
    const listener = (e) => fn(e.detail);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** 'offline' | 'connecting' | 'online' | 'reconnecting' */
  get state() {
    return this.conn.state;
  }

  /** Date.now() of the next reconnect while 'reconnecting'. */
  get retryAt() {
    return this.conn.retryAt;
  }

  /** Whether the client means to be connected (false after close(), a kick or a sign-out). */
  get wanted() {
    return this.conn.wanted;
  }

  /** Connect (again), e.g. after a kick; a no-op while connected. */
  start() {
    this.ban = null;
    this.conn.start();
  }

  /** Try now rather than when the backoff says. */
  reconnectNow() {
    this.conn.connectNow();
  }

  /** Close the connection and stay offline until start(). */
  close() {
    this.conn.stop();
  }

  /**
   * Identify anew on a new connection: {name} renames (or, with no resume token, makes a guest);
   * {appToken} signs in as the web app's user; {} goes on with the resume token alone.
   * @param {{name?: string, appToken?: string}} who
   */
  identifyAs({ name = null, appToken = null }) {
    this.name = name;
    this.appToken = appToken;
    if (this.conn.state === 'online') this.conn.restart();
    else this.conn.start();
  }

  /**
   * Send any frame and wait for its answer (docs/protocol.md).
   * @param {object} frame
   * @returns {Promise<object>} the answer; rejects with the `error` frame, or {code: 'disconnected'}
   */
  request(frame) {
    return this.conn.request(frame);
  }

  /** A request carrying positions names the epoch they come from. */
  withEpoch(frame) {
    if (this.epoch !== null) frame.epoch = this.epoch;
    return frame;
  }

  // Identity

  identify() {
    const frame = { type: 'identify' };
    if (this.appToken) frame.app_token = this.appToken;
    else if (this.token) frame.token = this.token;
    if (this.name && !this.appToken) frame.name = this.name;
    if (!frame.app_token && !frame.token && !frame.name) {
      this.conn.stop();
      this.emit('refused', { error: { type: 'error', code: 'no_identity', message: 'no name or token to sign in with' } });
      return;
    }
    if (frame.token) this.private.position(frame);
    // Stored events are numbered per user: a count goes only with the token of the user it counts for.
    if (frame.token && this.eventsSince !== null) frame.events_since = this.eventsSince;
    if (this.epoch !== null) frame.epoch = this.epoch;
    this.conn.request(frame).then((w) => this.welcome(w, frame), (err) => this.refused(err));
  }

  refused(err) {
    if (err.code === 'disconnected' || err.code === 'banned') return; // a ban: the `banned` frame said it

    if (err.code === 'bad_token') this.setToken(null);
    this.appToken = null; // a refused app token does not get better
    this.conn.stop();
    this.emit('refused', { error: err });
  }

  setToken(token) {
    this.token = token;
    this.emit('token', { token });
  }

  welcome(w, { since, events_since: eventsSince }) {
    const newUser = this.user !== null && this.user.id !== w.user.id;
    const reset = Boolean(w.reset) || (this.epoch !== null && w.epoch !== this.epoch);
    if (reset) this.joins.reset();
    if (reset || newUser) this.private.reset();
    // The server replays the stored events above what we sent, or all: count again from there.
    if (eventsSince === undefined || reset || newUser) this.eventsSince = null;
    this.epoch = w.epoch || null;
    this.user = w.user;
    this.appToken = null;
    this.name = null;
    this.kick = null;
    this.setToken(w.token);
    this.conn.ready();
    this.emit('welcome', { user: w.user, frame: w, reset, newUser });
    const resumed = since !== undefined && !reset && !newUser;
    this.private.revisedTo(w.revised);
    if (resumed && w.changed) this.emit('changed', { messages: w.changed }); // changed while away
    this.private.page(w.messages || [], resumed ? since : null);
    if (resumed && w.more) this.background(this.private.fill((gap) => this.history(gap)));
    this.joins.rejoin();
    this.says.flush();
  }

  /**
   * Sign out this browser, or every sign-in of the user (`everywhere`); the client then stays offline.
   * @param {boolean} everywhere
   * @returns {Promise<void>} rejects with the error frame, e.g. {code: 'disconnected'}
   */
  async signOut(everywhere = false) {
    await this.conn.request({ type: 'sign_out', everywhere });
    this.conn.stop();
    this.setToken(null);
  }

  // Rooms

  /**
   * Join a room and stay in it across reconnects (resumed exactly). Its messages come as `message` events.
   * @param {string} room
   * @returns {Promise<object>} the `joined` frame; rejects with a refusal (e.g. no_such_room)
   */
  join(room) {
    return this.joins.join(room);
  }

  /**
   * Leave a room (its says still waiting are dropped).
   * @param {string} room
   * @returns {Promise<void>}
   */
  leave(room) {
    return this.joins.leave(room);
  }

  /**
   * A page of history (docs/protocol.md, "history"), with the epoch of the ids it carries.
   * @param {{room?: string, with?: number, before?: number|null, after?: number|null, limit?: number}} query
   * @returns {Promise<object>} the `history` frame: {messages, more, reset?}
   */
  history({ before = null, after = null, ...query }) {
    const frame = { type: 'history', ...query };
    if (before !== null) this.withEpoch(frame).before = before;
    if (after !== null) this.withEpoch(frame).after = after;
    return this.conn.request(frame);
  }

  // Messages

  /**
   * Say something in a room (joined through this client) or to a user; resent with the same cid after a
   * reconnect until the server acks it, so it is stored once.
   * @param {{room?: string, to?: number, text: string, cid?: string, userId?: number, attachments?: string[],
   *   replyTo?: number}} say -
   *   userId: send only while identified as this user (a say written by one user never goes out as another);
   *   attachments: upload ids (docs/api.md, "Uploads"), up to 10; text may then be empty;
   *   replyTo: the id of the message it answers
   * @returns {Promise<object>} the `ack` {cid, id, ts}; rejects with a permanent refusal
   */
  say({ room, to, text, cid, userId = null, attachments = [], replyTo = null }) {
    this.cidCount += 1;
    const frame = { type: 'say', cid: cid || this.cidPrefix + this.cidCount, text };
    if (attachments.length) frame.attachments = attachments;
    if (replyTo !== null) frame.reply_to = replyTo;
    if (room !== undefined) frame.room = room;
    else frame.to = to;
    return this.says.add(frame, userId);
  }

  canSend(say) {
    if (this.conn.state !== 'online') return false;
    if (say.userId !== null && say.userId !== this.user.id) {
      this.says.drop(say.frame.cid, { type: 'error', code: 'other_user', message: 'you are signed in as someone else now' });
      return false;
    }
    return say.frame.room === undefined || this.joins.ready(say.frame.room);
  }

  /**
   * Send a request the server does not answer when it is carried out — read, notify, close, typing
   * (docs/protocol.md) — paced with every other request. Not queued while offline: read state and
   * typing hints are worth sending only from the page's state of the moment. A refusal comes as a
   * `told` event naming the request.
   * @param {object} frame - e.g. {type: 'read', room: 'lobby', id: 1207}
   * @returns {boolean} whether it went out
   */
  tell(frame) {
    if (this.conn.state !== 'online') return false;
    this.cidCount += 1;
    const cid = this.cidPrefix + this.cidCount;
    this.told.set(cid, frame);
    if (this.told.size > TOLD_KEPT) this.told.delete(this.told.keys().next().value);
    return this.conn.send({ ...frame, cid });
  }

  // Frames the server sends on its own

  onFrame(f) {
    if (f.type === 'message') {
      if (f.room !== undefined) this.joins.live(f);
      else if (f.to !== undefined) this.private.live(f);
    } else if (f.type === 'event') {
      if (typeof f.id === 'number') this.eventsSince = Math.max(this.eventsSince || 0, f.id);
      this.emit('event', f);
    } else if (f.type === 'left') {
      const r = this.joins.get(f.room);
      if (r) this.joins.forget(r, { type: 'error', code: 'not_in_room', message: `you were ${f.reason || 'taken out'}` });
      this.emit('left', { room: f.room, reason: f.reason || null });
    } else if (f.type === 'kicked') {
      this.kick = f;
    } else if (f.type === 'banned') {
      this.banned({ reason: f.reason || '', until: f.until ?? null });
    } else if (f.type === 'error' && this.told.has(f.cid)) {
      this.emit('told', { frame: this.told.get(f.cid), error: f });
      this.told.delete(f.cid);
    } else if (['deleted', 'edited', 'reactions'].includes(f.type)) {
      // A change to a stored message: its number is where a resume catches up from.
      if (f.room !== undefined) this.joins.changed(f);
      else this.private.revisedTo(f.rev);
      this.emit(f.type, f);
    } else if (['presence', 'room', 'error', 'read', 'notify', 'closed', 'typing'].includes(f.type)) {
      if (f.cid !== undefined) this.told.delete(f.cid); // notify and close: answered, not refused
      this.emit(f.type, f);
    }
  }

  closed({ code, reason }) {
    this.joins.disconnected();
    this.emit('close', { code, reason });
    if (code === CLOSE_SIGNED_OUT) {
      this.conn.stop(); // the token is signed out: no reconnect with it
      this.setToken(null);
      this.emit('signedOut', { code });
    } else if (code === CLOSE_KICKED) {
      this.conn.stop(); // the server wants this user gone: back only when the user says so
      const kick = this.kick || {};
      this.emit('kicked', { reason: kick.reason || reason || '', cause: kick.cause ?? null, default: kick.default === true });
    } else if (code === CLOSE_BANNED) {
      this.banned({ reason: reason || '', until: null });
    }
  }

  // Banned (docs/protocol.md, "Banned"): no reconnect, by the backoff or otherwise, until start().
  banned(ban) {
    this.conn.stop();
    if (this.ban) return; // the frame, then the close: said once
    this.ban = ban;
    this.emit('banned', ban);
  }

  // A fetch in the background: a lost connection is retried by the resume; anything else is an `error` event.
  background(promise) {
    promise.catch((err) => {
      if (err.code !== 'disconnected') this.emit('error', err);
    });
  }
}
