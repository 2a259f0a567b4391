// What the page knows about rooms, conversations and their messages.
// No socket and no DOM here: the protocol code (client.js) feeds it and the
// views read it. Every change is announced as an event so each view can
// redraw only its own part.
//
// Events (CustomEvent, detail in brackets):
//   me, rooms, views, leaving {key} (another view goes on screen in place of view key: the list still
//   shows key), current, messages {key, ids, live}, cleared {key}, pending {key},
//   members {key}, older {key}, newer {key}, jump {id} (a jump to message id begins: client.js jumpTo),
//   focus {key, id} (message id shown and highlighted), latest {key} (the user went back to the
//   view's latest messages: unread-line.js), deleted {key, id},
//   changed {key, id} (a message's text or reactions changed), replying {key}, editing {id},
//   readstate {key} (its last_read or level), connection (store.connected changed)

import { isolate, userTag } from './text.js';
import { t } from './i18n.js';
import { clearCounts, countNew, levelOf } from './readstate.js';

export const roomKey = (name) => 'r:' + name.toLowerCase();
// The `presence` events that bring a member's new ref (docs/protocol.md, "presence").
const NEW_REF_EVENTS = new Set(['rename', 'update']);
// The roles a ref's `rank` names (docs/protocol.md, "Moderation").
const STAFF_ROLES = ['moderator', 'admin'];
const REF_FIELDS = ['name', 'avatar', 'bot', 'rank']; // what a user ref may say of its user besides its id
export const dmKey = (userId) => 'u:' + userId;
const QUOTE_CHARS = 200; // characters of the original a reply quotes (docs/protocol.md, "Replies")

/** How a reply quotes message m as it reads now. */
const quoteOf = (m) => ({ id: m.id, from: m.from, text: Array.from(m.text).slice(0, QUOTE_CHARS).join('') });

/**
 * Apply one `room` event (docs/protocol.md, "room") to a room list (roomKey →
 * {name, topic, online, members_only}); → whether it changed. `changed` and `removed` for a
 * room the list does not hold are ignored: it was listed after, or never.
 */
export function applyRoomEvent(rooms, event, room) {
  const key = roomKey(room.name);
  const entry = rooms.get(key);
  if (event === 'created') {
    rooms.set(key, { name: room.name, topic: room.topic || '', online: room.online || 0, members_only: room.members_only === true });
  } else if (event === 'changed' && entry) {
    rooms.set(key, { ...entry, ...room });
  } else if (event === 'removed' && entry) {
    rooms.delete(key);
  } else {
    return false;
  }
  return true;
}

/** One room or private conversation as the page shows it. */
export class View {
  constructor(key, kind, name) {
    this.key = key;
    this.kind = kind;          // 'room' | 'dm'
    this.name = name;          // room name, or the other user's latest name
    this.peer = null;          // dm: {id, name, unnamed?, deleted?: the account was deleted}
    this.topic = '';
    this.messages = new Map(); // id → message frame; a Map so a resent or replayed message lands once
    this.ids = [];             // the same ids, ascending: the render order
    this.members = new Map();  // room: id → {id, name}, the users online in it
    this.membersOnly = false;  // room: only its members may see and join it
    this.archived = false;     // room: read-only (docs/protocol.md, "Archived and announcement rooms")
    this.announcement = false; // room: only moderators and admins post
    this.wanted = false;       // room: the user wants to be in it (survives reconnects)
    this.joined = false;       // room: joined on the current connection
    this.olderMore = null;     // older history exists: true / false / null = not asked yet
    this.loadingOlder = false;
    this.gapAfter = null;      // messages after this id are missing up to the next one held (jump.js)
    this.loadingNewer = false;
    // Read state (readstate.js, docs/protocol.md "Read state"): the server's, then counted here.
    this.unread = 0;           // messages from others above lastRead
    this.unreadMore = false;   // the server stopped counting: more than `unread`
    this.mentions = 0;         // of those, the ones that mention the user
    this.lastRead = null;      // the id read up to, on any device; null until the server said
    this.notify = null;        // 'all' | 'mentions' | 'none'; null: the default of the kind
    this.notifyPending = null; // a level asked for and not confirmed yet (attention.js)
  }

  oldestId() {
    return this.ids.length ? this.ids[0] : null;
  }

  /** As plain text (labels, placeholders, the tab's title): the name isolated. */
  title() {
    if (this.kind === 'dm' && this.peer.deleted) return t('chat.deleted_account');
    return this.kind === 'room' ? '#' + isolate(this.name) : isolate(this.name);
  }
}

// Index of the first element >= id in an ascending array.
/** A message as its tombstone shows it: no text (and in a room no author), as history returns it. */
function tombstone(m) {
  const t = { type: 'message', id: m.id, ts: m.ts, deleted: true };
  if (m.room !== undefined) t.room = m.room;
  else Object.assign(t, { to: m.to, from: m.from });
  return t;
}

function lowerBound(ids, id) {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ids[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class Store extends EventTarget {
  constructor() {
    super();
    this.me = null;              // the user ref from welcome: {id, name, avatar?, bot?, roles?}
    this.rooms = new Map();      // the server's list: roomKey → {name, topic, online}
    this.views = new Map();      // key → View
    this.current = null;         // key of the view on screen
    this.pending = new Map();    // cid → unacknowledged say (see outbox.js)
    this.isWatched = (key) => key === this.current; // app.js adds "and the tab is visible"
    this.gone = new Set();       // ids of messages deleted while this page is open
    this.clockOffsetMs = 0;      // the server's clock minus this browser's, as last seen (noteServerTime)
    this.imageHosts = [];        // welcome's image_hosts: hosts whose linked images are shown (attachments.js)
    this.connected = false;      // signed in on a live connection: who is online is known
  }

  setConnected(connected) {
    this.connected = connected;
    this.emit('connection');
  }

  /** Whether the user may moderate (welcome's user.roles): 'moderator' or 'admin' (which includes it). */
  moderates(role = 'moderator') {
    const roles = (this.me && this.me.roles) || [];
    return roles.includes('admin') || (role === 'moderator' && roles.includes('moderator'));
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  on(type, fn) {
    this.addEventListener(type, (e) => fn(e.detail));
  }

  setMe(user) {
    this.me = { ...user }; // a user ref: id, name, and avatar / bot when the server sent them
    this.emit('me');
  }

  isMine(message) {
    return this.me !== null && message.from && message.from.id === this.me.id;
  }

  // Views

  roomView(name) {
    return this.views.get(roomKey(name)) || null;
  }

  ensureRoom(name) {
    const key = roomKey(name);
    let view = this.views.get(key);
    if (!view) {
      view = new View(key, 'room', name);
      this.views.set(key, view);
      this.emit('views');
    }
    return view;
  }

  ensureDm(user) {
    const key = dmKey(user.id);
    let view = this.views.get(key);
    if (!view) {
      view = new View(key, 'dm', user.name);
      view.peer = { id: user.id, name: user.name };
      if (user.unnamed) view.peer.unnamed = true;
      this.views.set(key, view);
      this.emit('views');
    }
    return view;
  }

  removeView(key) {
    if (!this.views.delete(key)) return;
    if (this.current === key) this.setCurrent(null);
    this.emit('views');
  }

  currentView() {
    return this.current ? this.views.get(this.current) || null : null;
  }

  setCurrent(key) {
    // Said while the view's list still shows it: what the user saw there is read (read-tracker.js).
    if (this.current !== null && this.current !== key) this.emit('leaving', { key: this.current });
    this.current = key;
    this.emit('current');
    this.emit('views');
  }

  roomViews() {
    return [...this.views.values()].filter((v) => v.kind === 'room');
  }

  dmViews() {
    return [...this.views.values()].filter((v) => v.kind === 'dm');
  }

  /** Forget private conversations: they belonged to another user. */
  resetPrivate() {
    for (const view of this.dmViews()) this.views.delete(view.key);
    if (this.current && this.current.startsWith('u:')) this.current = null;
    this.emit('views');
    this.emit('current');
  }

  /** Forget what a view shows and where it was: the next join or history page loads it afresh. */
  clearView(view) {
    view.messages.clear();
    view.ids = [];
    view.olderMore = null;
    view.gapAfter = null;
    clearCounts(view);
    this.emit('cleared', { key: view.key });
    this.emit('views');
  }

  /**
   * The server's database is not the one our ids come from (restored from a
   * backup): drop every message and position. Rooms stay wanted and are
   * joined afresh; conversations come back with the messages the server has.
   */
  resetPositions() {
    for (const view of this.roomViews()) this.clearView(view);
    this.resetPrivate();
  }

  /** The connection is gone: nothing is joined any more, but everything is kept for the resume. */
  disconnected() {
    for (const view of this.views.values()) view.joined = false;
    this.connected = false; // before 'views': the sidebar drops its online counts
    this.emit('views');
    this.setConnected(false);
  }

  /** A server timestamp (ms) of something just made there (an ack, a live message): the clocks' difference. */
  noteServerTime(ts) {
    if (typeof ts === 'number') this.clockOffsetMs = ts - Date.now();
  }

  /** Now by the server's clock (ms), as far as the page knows it. */
  serverNow() {
    return Date.now() + this.clockOffsetMs;
  }

  // Messages

  /**
   * Add messages to a view, ignoring ids it has already. `unread`: they are
   * live, so not in the read state the server sent (readstate.js countNew).
   * Returns the ids that were new.
   */
  add(view, messages, { unread = false } = {}) {
    const added = [];
    for (let m of messages) {
      if (typeof m.id !== 'number' || view.messages.has(m.id)) continue;
      if (this.gone.has(m.id) && !m.deleted) m = tombstone(m); // its `deleted` came first (another node's)
      view.messages.set(m.id, m);
      const ids = view.ids;
      if (!ids.length || ids[ids.length - 1] < m.id) ids.push(m.id);
      else ids.splice(lowerBound(ids, m.id), 0, m.id);
      added.push(m.id);
      if (m.to && m.from) this.updatePeerName(view, m);
      if (unread) countNew(view, m, this.me, this.isWatched(view.key));
    }
    if (added.length) {
      this.emit('messages', { key: view.key, ids: added, live: unread });
      if (unread) this.emit('views');
    }
    return added;
  }

  /**
   * A `deleted` frame: the message becomes a tombstone wherever it is shown (docs/protocol.md,
   * "Deleted messages"); one not loaded yet is a tombstone when it comes.
   */
  deleted(f) {
    this.gone.add(f.id);
    const view = this.viewOf(f);
    const m = view && view.messages.get(f.id);
    if (!m || m.deleted) return;
    view.messages.set(f.id, tombstone(m));
    this.emit('deleted', { key: view.key, id: f.id });
    this.requote(view, f.id, { id: f.id, deleted: true });
  }

  /** The replies to message `id` shown in `view` quote it as `quote` now (an edit, a deletion). */
  requote(view, id, quote) {
    for (const [replyId, reply] of view.messages) {
      const was = reply.reply_to;
      if (!was || was.id !== id || reply.deleted || (was.text === quote.text && !was.deleted === !quote.deleted)) continue;
      view.messages.set(replyId, { ...reply, reply_to: quote });
      this.emit('changed', { key: view.key, id: replyId });
    }
  }

  /** The view a change frame (deleted, edited, reactions) or a changed message belongs to, or null. */
  viewOf(f) {
    if (f.room !== undefined) return this.roomView(f.room);
    return f.to && f.from ? this.dmViewFor(f) : null;
  }

  /**
   * An `edited` or `reactions` frame: the fields it carries replace those of the message shown
   * (docs/protocol.md, "Edits and reactions"); a message not loaded yet comes as it is now.
   */
  changedFields(f) {
    const view = this.viewOf(f);
    const m = view && view.messages.get(f.id);
    if (!m || m.deleted) return;
    const next = { ...m };
    if (f.type === 'edited') Object.assign(next, { text: f.text, edited: f.edited });
    else if (f.reactions.length) next.reactions = f.reactions;
    else delete next.reactions;
    view.messages.set(f.id, next);
    this.emit('changed', { key: view.key, id: f.id });
    if (f.type === 'edited') this.requote(view, f.id, quoteOf(next));
  }

  /** Messages changed while the page was away (a resume's `changed`): replace the copies shown. */
  replaceChanged(messages) {
    for (const m of messages) {
      if (m.deleted) {
        this.deleted({ ...m, type: 'deleted' });
        continue;
      }
      const view = this.viewOf(m);
      if (!view || !view.messages.has(m.id)) continue;
      view.messages.set(m.id, m);
      this.emit('changed', { key: view.key, id: m.id });
      this.requote(view, m.id, quoteOf(m));
    }
  }

  /**
   * The conversation's other user was deleted (a `history` page's `account_deleted`, or a say to them
   * refused `recipient_deleted`): it is shown as a deleted account, and nothing more can be sent to it.
   */
  peerDeleted(view) {
    if (view.kind !== 'dm' || view.peer.deleted) return;
    view.peer.deleted = true;
    this.emit('views');
    if (this.current === view.key) this.emit('current');
  }

  /** What a `history` page of `view` says about it besides its messages (docs/protocol.md, "history"). */
  historyRead(view, page) {
    if (page.account_deleted) this.peerDeleted(view);
  }

  // A conversation is titled with the other user's most recent name.
  updatePeerName(view, m) {
    if (view.kind !== 'dm') return;
    const other = m.from.id === view.peer.id ? m.from : m.to;
    if (other.id === view.peer.id && m.id >= (view.ids[view.ids.length - 1] || 0) && other.name !== view.name) {
      view.name = view.peer.name = other.name;
      delete view.peer.unnamed;
      this.emit('views');
      if (this.current === view.key) this.emit('current');
    }
  }

  /**
   * User `id` as the page knows them ({id, name}: from a conversation, a room's members or a message
   * shown); one never seen is {id, name: their tag, unnamed: true} (the protocol has no look-up by id).
   */
  userRef(id) {
    if (this.me && this.me.id === id) return this.me;
    for (const view of this.views.values()) {
      if (view.peer && view.peer.id === id && !view.peer.unnamed) return view.peer;
      const member = view.members.get(id);
      if (member) return member;
      for (const m of view.messages.values()) {
        const who = [m.from, m.to].find((u) => u && u.id === id);
        if (who) return who;
      }
    }
    return { id, name: userTag(id), unnamed: true };
  }

  /** The view a private message belongs to: the conversation with the other user. */
  dmViewFor(message) {
    if (!this.me) return null;
    const other = message.from.id === this.me.id ? message.to : message.from;
    return this.ensureDm(other);
  }

  // Rooms and members

  /** The whole list, as listed (a Map like `rooms`). */
  setRooms(rooms) {
    this.rooms = rooms;
    this.emit('rooms');
  }

  roomEvent(event, room) {
    if (applyRoomEvent(this.rooms, event, room)) this.emit('rooms');
    const view = this.roomView(room.name);
    if (view && event === 'changed' && ('archived' in room || 'announcement' in room)) {
      view.archived = room.archived === true;
      view.announcement = room.announcement === true;
      if (this.current === view.key) this.emit('current'); // the composer opens or closes
    }
  }

  setMembers(view, members) {
    view.members = new Map(members.map((u) => [u.id, u]));
    // Its own ref in the list is as new as any: a rank signed in elsewhere while no room of this page
    // heard it (in none) comes here first.
    const mine = this.me && view.members.get(this.me.id);
    if (mine) this.restyleMe(mine);
    this.syncOnline(view);
    this.emit('members', { key: view.key });
  }

  /**
   * A `presence` event of a joined room (docs/protocol.md, "presence"): `join`, `leave`, or a member's new
   * ref (`rename`, `update`: a new name, rank or avatar), which, as a join, also changes `me` when it is this
   * user (signed in again elsewhere). Events of a newer server are ignored.
   */
  presence(view, event, user) {
    if (event === 'join') view.members.set(user.id, user);
    else if (event === 'leave') view.members.delete(user.id);
    else if (!NEW_REF_EVENTS.has(event)) return;
    else if (view.members.has(user.id)) view.members.set(user.id, user);
    if (event !== 'leave' && this.me && this.me.id === user.id) this.restyleMe(user); // (a join: another tab's)
    this.syncOnline(view);
    this.emit('members', { key: view.key });
  }

  /** This user's new ref: its name, avatar and rank; the roles the page reads (moderates) follow the rank. */
  restyleMe(user) {
    const { me } = this;
    if (REF_FIELDS.every((field) => me[field] === user[field])) return; // told once per room it is in
    const roles = (me.roles || []).filter((role) => !STAFF_ROLES.includes(role));
    this.me = { ...user, roles: user.rank ? [...roles, user.rank] : roles };
    this.emit('me');
  }

  // The server pushes changed counts every few seconds; a joined room knows its own sooner.
  syncOnline(view) {
    const entry = this.rooms.get(view.key);
    if (entry && entry.online !== view.members.size) {
      this.rooms.set(view.key, { ...entry, online: view.members.size });
      this.emit('rooms');
    }
  }

  // Unacknowledged says

  setPending(p) {
    this.pending.set(p.cid, p);
    this.emit('pending', { key: p.key });
  }

  removePending(cid) {
    const p = this.pending.get(cid);
    if (!p) return;
    this.pending.delete(cid);
    this.emit('pending', { key: p.key });
  }

  pendingFor(key) {
    return [...this.pending.values()].filter((p) => p.key === key);
  }

  /** What the tab's title counts: the unread messages of views at level 'all', the mentions of the others. */
  totalUnread() {
    let n = 0;
    for (const view of this.views.values()) n += levelOf(view) === 'all' ? view.unread : view.mentions;
    return n;
  }
}
