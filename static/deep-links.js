// Addresses of what the page shows, in the URL's fragment (never sent to the
// server, so no server route is needed and no room name reaches a log):
//   #/r/lobby            the room lobby          #/u/42          the conversation with user 42
//   #/r/lobby/m/1207     message 1207 in lobby   #/u/42/m/1207   a message of that conversation
//   #/u/42+7/m/1207      a message of the conversation between users 42 and 7, as a copied link
//                        names it: either of the two opens it with the other
// The address follows what is on screen (a new history entry per choice, so
// back and forward move between rooms), a message jumped to included (a search result, a
// notification, a reply's original: one entry, whether or not the jump changed the view), and
// a changed or pasted address opens what it names: a room is joined if the user may, else the
// server's refusal is shown (no_such_room, forbidden). Back from a message to the view it is in
// shows that view at its latest, as opening it does; and once the user goes back to the latest
// from a message jumped to (store event `latest`), the address is the view's again, in place of the
// message's (replaced, not a new entry: a reload opens at the latest, docs/page.md "Addresses"),
// or, when the jumps began at that very address (one jump or several in a row within the view),
// the history steps back to it instead, so that it never holds the view twice and the next Back
// leaves it. Each entry's state says how many steps back that address is (`depth`, 0 for none):
// the page writes it on the entries it pushes, and on those a user's typed or pasted address makes
// (a hashchange onto an entry with no state yet), from the entry it was on before (`this.shown`).

import { errorText } from './refusals.js';
import { dmKey } from './store.js';

const ROOM = /^#\/r\/([^/]+)(?:\/m\/(\d+))?$/;
const DM = /^#\/u\/(\d{1,15})(?:\+(\d{1,15}))?(?:\/m\/(\d+))?$/; // ids up to 15 digits: safe in a Number

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

/** Whether `link` (parseHash's, or null) names `view`, at a message in it or not. */
function names(link, view) {
  if (!link) return false;
  return view.kind === 'room' ? link.room !== undefined && view.name.toLowerCase() === link.room.toLowerCase()
    : link.userIds !== undefined && link.userIds.includes(view.peer.id);
}

/** Whether two links (parseHash's) name the same view, at a message or not. */
function sameView(a, b) {
  if (a.room !== undefined) return b.room !== undefined && a.room.toLowerCase() === b.room.toLowerCase();
  return b.userIds !== undefined && a.userIds.join('+') === b.userIds.join('+');
}

/**
 * The state of an entry at `hash` made on top of one at `fromHash` with `fromState`: how many steps
 * back the plain address of the view its jumps began at is ({depth}, 0: none; see the top of this file).
 */
function entryState(fromHash, fromState, hash) {
  const from = parseHash(fromHash);
  const to = parseHash(hash);
  if (!from || !to || to.id === null || !sameView(from, to)) return { depth: 0 };
  if (from.id === null) return { depth: 1 };
  const depth = fromState?.depth ?? 0;
  return { depth: depth ? depth + 1 : 0 };
}

export class Links {
  /**
   * client: the ChatClient (openRoom, openConversation, jumpTo, showLatest);
   * list: {toLatest()}: the message list to its bottom (unread-line.js).
   */
  constructor(store, client, list) {
    this.store = store;
    this.client = client;
    this.list = list;
    this.waiting = parseHash(window.location.hash); // the address the page was opened with
    this.jumpId = null; // a jump to this message is opening its view: the address names it at once
    // The entry the page opened on: what was behind it is another page's, unknown (a reload keeps the state).
    if (window.history.state === null) window.history.replaceState({ depth: 0 }, '');
    this.shown = { hash: window.location.hash, state: window.history.state }; // the entry on screen
    store.on('jump', ({ id }) => (this.jumpId = id));
    store.on('current', () => this.follow());
    store.on('focus', ({ key, id }) => this.focused(key, id));
    store.on('latest', ({ key }) => this.backAtLatest(key));
    window.addEventListener('hashchange', (event) => {
      if (window.history.state === null) { // a new entry (an address typed): made on top of the one shown
        window.history.replaceState(entryState(this.shown.hash, this.shown.state, window.location.hash), '');
      }
      this.shown = { hash: window.location.hash, state: window.history.state };
      this.open(parseHash(window.location.hash));
    });
    store.on('me', () => {
      if (this.waiting) this.open(this.waiting);
      this.waiting = null;
    });
  }

  // The address follows the view on screen; not before the address the page was opened with has been opened.
  follow() {
    const view = this.store.currentView();
    const id = this.jumpId; // opening the view of a message jumped to: one entry, the message's
    this.jumpId = null;
    if (this.waiting || !view) return;
    if (!names(parseHash(window.location.hash), view)) this.push(viewHash(view, id));
  }

  // Message `id` of view `key` shown and highlighted (a jump): the address names it, unless it
  // does already (the address led there, or follow() named it as the jump opened the view).
  focused(key, id) {
    const view = this.store.views.get(key);
    if (this.waiting || !view || key !== this.store.current) return;
    const shown = parseHash(window.location.hash);
    if (!names(shown, view) || shown.id !== id) this.push(viewHash(view, id));
  }

  // The view `key` on screen at its latest: an address naming a message in it names the view instead.
  backAtLatest(key) {
    const view = this.store.views.get(key);
    if (this.waiting || !view || key !== this.store.current) return;
    const shown = parseHash(window.location.hash);
    if (!names(shown, view) || shown.id === null) return;
    const depth = window.history.state?.depth ?? 0;
    if (depth > 0) {
      window.history.go(-depth); // its hashchange opens it, at its latest
    } else {
      this.replaceWithCurrent();
    }
  }

  /** The address names the view on screen again, in place of the entry shown (one that named nothing there). */
  replaceWithCurrent() {
    const view = this.store.currentView();
    if (!view) return;
    window.history.replaceState(window.history.state, '', viewHash(view));
    this.shown = { hash: window.location.hash, state: window.history.state };
  }

  /** A new history entry at `hash` (see the top of this file). */
  push(hash) {
    const state = entryState(this.shown.hash, this.shown.state, hash);
    window.history.pushState(state, '', hash);
    this.shown = { hash, state };
  }

  /** Show what `link` (parseHash's) names. */
  open(link) {
    if (!link) return;
    const { store, client } = this;
    const before = store.currentView();
    if (link.room !== undefined) {
      if (link.id !== null) {
        client.jumpTo({ room: link.room, id: link.id });
      } else {
        client.openRoom(link.room);
        this.openedAgain(before);
      }
      return;
    }
    const meId = store.me ? store.me.id : null;
    const [other, ...more] = link.userIds.filter((id) => id !== meId);
    if (other === undefined || more.length > 0) return; // oneself, or a conversation of two others
    if (other < 1) { // no user's id (they start at 1): said as the server says it of a missing user
      client.ui.toast(errorText({ code: 'no_such_user', user: other }));
      this.replaceWithCurrent();
      return;
    }
    const known = store.views.get(dmKey(other));
    const peer = known ? known.peer : store.userRef(other);
    if (link.id !== null) {
      client.jumpTo({ from: peer, to: store.me, id: link.id });
    } else {
      client.openConversation(peer);
      this.openedAgain(before);
    }
  }

  // The address names the view that was on screen already, alone (Back from a message jumped to
  // in it): the view at its latest, as opening it shows it.
  openedAgain(before) {
    if (!before || this.store.currentView() !== before) return;
    this.client.showLatest(before);
    this.list.toLatest();
  }
}
