// Addresses of what the page shows, in the URL's fragment (never sent to the
// server, so no server route is needed and no room name reaches a log):
//   #/r/lobby            the room lobby          #/u/42          the conversation with user 42
//   #/r/lobby/m/1207     message 1207 in lobby   #/u/42/m/1207   a message of that conversation
// The address follows what is on screen (a new history entry per choice, so
// back and forward move between rooms), and a changed or pasted address opens
// what it names: a room is joined if the user may, else the server's refusal
// is shown (no_such_room, forbidden).

import { dmKey } from './store.js';
import { userTag } from './text.js';

const ROOM = /^#\/r\/([^/]+)(?:\/m\/(\d+))?$/;
const DM = /^#\/u\/(\d+)(?:\/m\/(\d+))?$/;

/** The fragment naming a view ({kind: 'room', name} | {kind: 'dm', peer: {id}}), message `id` in it if given. */
export function viewHash(view, id = null) {
  const base = view.kind === 'room' ? `#/r/${encodeURIComponent(view.name)}` : `#/u/${view.peer.id}`;
  return id === null ? base : `${base}/m/${id}`;
}

/**
 * The full address of message m (a message frame: `room`, or `from`/`to` for a private one), as
 * the user `meId` would share it: for a private message the fragment names the other person, so
 * the link works for both of them.
 */
export function messageLink(m, meId) {
  const view = m.room !== undefined ? { kind: 'room', name: m.room }
    : { kind: 'dm', peer: m.from.id === meId ? m.to : m.from };
  const url = new URL(window.location.href);
  url.hash = viewHash(view, m.id);
  return url.href;
}

/** What a fragment names: {room, id} or {userId, id} (id: a message id or null); null for anything else. */
export function parseHash(hash) {
  let match = ROOM.exec(hash);
  if (match) {
    try {
      return { room: decodeURIComponent(match[1]), id: match[2] ? Number(match[2]) : null };
    } catch {
      return null; // a broken %-escape
    }
  }
  match = DM.exec(hash);
  return match ? { userId: Number(match[1]), id: match[2] ? Number(match[2]) : null } : null;
}

export class Links {
  /** client: the ChatClient (openRoom, openConversation, jumpTo). Call start() once signed in. */
  constructor(store, client) {
    this.store = store;
    this.client = client;
    this.waiting = parseHash(window.location.hash); // the address the page was opened with
    store.on('current', () => this.follow());
    window.addEventListener('hashchange', () => this.open(parseHash(window.location.hash)));
    store.on('me', () => {
      if (this.waiting) this.open(this.waiting);
      this.waiting = null;
    });
  }

  // The address follows the view on screen; not before the address the page was opened with has been opened.
  follow() {
    const view = this.store.currentView();
    if (this.waiting || !view) return;
    const hash = viewHash(view);
    const shown = parseHash(window.location.hash);
    const same = shown && (view.kind === 'room' ? shown.room !== undefined && view.name.toLowerCase() === shown.room.toLowerCase()
      : shown.userId === view.peer.id);
    if (!same) window.history.pushState(null, '', hash);
  }

  /** Show what `link` (parseHash's) names. */
  open(link) {
    if (!link) return;
    const { store, client } = this;
    if (link.room !== undefined) {
      if (link.id !== null) client.jumpTo({ room: link.room, id: link.id });
      else client.openRoom(link.room);
      return;
    }
    const known = store.views.get(dmKey(link.userId));
    const peer = known ? known.peer : { id: link.userId, name: userTag(link.userId) };
    if (store.me && peer.id === store.me.id) return; // no conversation with oneself
    if (link.id !== null) client.jumpTo({ from: peer, to: store.me, id: link.id });
    else client.openConversation(peer);
  }
}
