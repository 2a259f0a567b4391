// Addresses of what the page shows, in the URL's fragment (never sent to the
// server, so no server route is needed and no room name reaches a log):
//   #/r/lobby            the room lobby          #/u/42          the conversation with user 42
//   #/r/lobby/m/1207     message 1207 in lobby   #/u/42/m/1207   a message of that conversation
//   #/u/42+7/m/1207      a message of the conversation between users 42 and 7, as a copied link
//                        names it: either of the two opens it with the other
// The address follows what is on screen (a new history entry per choice, so
// back and forward move between rooms), and a changed or pasted address opens
// what it names: a room is joined if the user may, else the server's refusal
// is shown (no_such_room, forbidden).

import { dmKey } from './store.js';

const ROOM = /^#\/r\/([^/]+)(?:\/m\/(\d+))?$/;
const DM = /^#\/u\/(\d+)(?:\+(\d+))?(?:\/m\/(\d+))?$/;

/** The fragment naming a view ({kind: 'room', name} | {kind: 'dm', peer: {id}}), message `id` in it if given. */
export function viewHash(view, id = null) {
  const base = view.kind === 'room' ? `#/r/${encodeURIComponent(view.name)}` : `#/u/${view.peer.id}`;
  return id === null ? base : `${base}/m/${id}`;
}

/**
 * The full address of message m (a message frame: `room`, or `from`/`to` for a private one), to
 * share: a private message's fragment names both people, so it opens for either of them.
 */
export function messageLink(m) {
  const url = new URL(window.location.href);
  url.hash = m.room !== undefined ? viewHash({ kind: 'room', name: m.room }, m.id) : `#/u/${m.from.id}+${m.to.id}/m/${m.id}`;
  return url.href;
}

/**
 * What a fragment names: {room, id} or {userIds, id} (id: a message id or null; userIds: the
 * conversation's other person, or its two people when the link names both); null for anything else.
 */
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
  if (!match) return null;
  return { userIds: [match[1], match[2]].filter(Boolean).map(Number), id: match[3] ? Number(match[3]) : null };
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
      : shown.userIds !== undefined && shown.userIds.includes(view.peer.id));
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
    const meId = store.me ? store.me.id : null;
    const [other, ...more] = link.userIds.filter((id) => id !== meId);
    if (other === undefined || more.length > 0) return; // oneself, or a conversation of two others
    const known = store.views.get(dmKey(other));
    const peer = known ? known.peer : store.userRef(other);
    if (link.id !== null) client.jumpTo({ from: peer, to: store.me, id: link.id });
    else client.openConversation(peer);
  }
}
