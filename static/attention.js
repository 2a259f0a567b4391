// The page's side of read state, notification levels and closing conversations (docs/protocol.md,
// "Read state", "Notification levels"): the server's state from `welcome` and `joined` into the
// store, the `read`, `notify` and `closed` frames of the user's sessions, and the requests that
// change them. The counting itself is readstate.js; when to send `read` is read-tracker.js.

import { applyRead, applyState, LEVELS } from './readstate.js';
import { dmKey, roomKey } from './store.js';
import { errorText } from './refusals.js';

const READ_RETRY_MS = 1000;

/** The frame fields naming a view: {room} or {with}. */
export function targetOf(view) {
  return view.kind === 'room' ? { room: view.name } : { with: view.peer.id };
}

// The view a frame naming {room} or {with} is about, if the page has it.
function viewOf(store, f) {
  if (f.room !== undefined) return store.views.get(roomKey(f.room)) || null;
  if (typeof f.with === 'number') return store.views.get(dmKey(f.with)) || null;
  return null;
}

export class Attention {
  /**
   * chat: the ChatdClient; client: the ChatClient (enter(view), rememberRooms(), dropConversation(view));
   * ui: {toast(text)}
   */
  constructor(chat, store, client, ui) {
    this.chat = chat;
    this.store = store;
    this.client = client;
    this.ui = ui;
    this.listed = new Set(); // ids of the users whose conversations welcome listed (not closed)
    chat.on('read', (f) => {
      const view = viewOf(store, f);
      if (view && typeof f.id === 'number' && applyRead(view, f.id, store.me)) this.changed(view);
    });
    chat.on('notify', (f) => {
      const view = viewOf(store, f);
      if (!view || !LEVELS.includes(f.level)) return;
      view.notify = f.level;
      view.notifyPending = null;
      this.changed(view);
    });
    chat.on('closed', (f) => this.closed(f.with));
    chat.on('told', ({ frame, error }) => this.refused(frame, error));
  }

  /** `welcome`: the rooms the user follows are joined here too (on any device), conversations listed. */
  welcome(frame) {
    const { store, client } = this;
    for (const s of frame.room_state || []) {
      if (typeof s.room !== 'string') continue;
      const view = store.ensureRoom(s.room);
      applyState(view, s);
      if (!view.wanted) client.enter(view);
    }
    client.rememberRooms();
    this.listed = new Set();
    for (const s of frame.conversations || []) {
      if (!s.with || typeof s.with.id !== 'number') continue;
      this.listed.add(s.with.id);
      applyState(store.ensureDm(s.with), s);
    }
    store.emit('views');
  }

  /** `joined`: the room's read state (after the client replaced what the view held). */
  joined(view, frame) {
    applyState(view, frame);
    this.changed(view);
  }

  /**
   * Whether a private message of an old page (welcome's latest, `news` false) may open a conversation
   * in the sidebar: only one welcome listed (a closed one stays closed), or one already shown.
   */
  keeps(m, news) {
    if (news || !this.store.me) return true;
    const other = m.from.id === this.store.me.id ? m.to : m.from;
    return this.listed.has(other.id) || this.store.views.has(dmKey(other.id));
  }

  /** The user has read the view up to message `id` (read-tracker.js): the server and this page know it. */
  read(view, id) {
    if (!this.chat.tell({ type: 'read', ...targetOf(view), id })) return false;
    if (applyRead(view, id, this.store.me)) this.changed(view);
    return true;
  }

  /** Ask for notification level `level` ('all', 'mentions', 'none'); shown once the server confirms. */
  setLevel(view, level) {
    if (!LEVELS.includes(level) || !this.chat.tell({ type: 'notify', ...targetOf(view), level })) {
      this.changed(view); // the control goes back to what holds
      return;
    }
    view.notifyPending = level;
    this.changed(view);
  }

  /** Hide a conversation from the sidebar on every device (until a newer message). */
  close(view) {
    if (view.kind === 'dm' && !this.chat.tell({ type: 'close', with: view.peer.id })) {
      this.ui.toast(errorText({ code: 'disconnected' }));
    }
  }

  closed(userId) {
    this.listed.delete(userId);
    const view = this.store.views.get(dmKey(userId));
    if (view) this.client.dropConversation(view);
  }

  refused(frame, error) {
    const view = viewOf(this.store, frame);
    if (frame.type === 'notify' && view) {
      view.notifyPending = null;
      this.changed(view);
    }
    if (frame.type === 'notify' || frame.type === 'close') this.ui.toast(errorText(error));
    // A `read` over the rate limit is sent again when the server says it may pass (lastRead here
    // already moved: the tracker would not send it); a typing hint is worth nothing later.
    else if (frame.type === 'read' && error.code === 'rate_limited') {
      setTimeout(() => this.chat.tell(frame), Math.max(error.retry_ms || 0, READ_RETRY_MS));
    }
  }

  changed(view) {
    this.store.emit('readstate', { key: view.key });
    this.store.emit('views');
  }
}
