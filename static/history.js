// Fetching history pages (docs/protocol.md, "history"): filling the gap a
// resume the server cut short left, and paging back when the user scrolls up.
// Both only add to the view's Map, so a page that overlaps what is
// already shown changes nothing.

export const PAGE = 50;
export const CATCH_UP_PAGE = 100;

/** A request that carries positions says which database epoch they come from. */
export function withEpoch(store, frame) {
  if (store.epoch !== null) frame.epoch = store.epoch;
  return frame;
}

/** The latest page, in place of what the view showed: the server found our position stale. */
function replaceWithLatest(store, view, h) {
  store.clearView(view);
  store.add(view, h.messages);
  view.olderMore = Boolean(h.more) && h.messages.length > 0;
  view.lastId = h.messages.length ? h.messages[h.messages.length - 1].id : 0;
}

/**
 * A `joined` with more: true left a gap: fetch it with after = the last id
 * received and before = the first live id received since (view.gap), until
 * the server says there is no more. Live messages keep arriving meanwhile.
 */
export async function fillGap(conn, store, view) {
  if (view.filling) return;
  view.filling = true;
  try {
    while (view.gap && view.joined) {
      const frame = { type: 'history', room: view.name, after: view.gap.after, limit: CATCH_UP_PAGE };
      if (view.gap.before !== null) frame.before = view.gap.before;
      const h = await conn.request(withEpoch(store, frame));
      if (h.reset) {
        replaceWithLatest(store, view, h);
        return;
      }
      store.add(view, h.messages, { unread: true });
      if (!h.more || !h.messages.length) {
        // Nothing missing any more: everything up to the newest id is known.
        view.gap = null;
        if (view.ids.length) view.lastId = Math.max(view.lastId || 0, view.ids[view.ids.length - 1]);
      } else {
        view.gap.after = h.messages[h.messages.length - 1].id;
      }
    }
  } finally {
    view.filling = false;
  }
}

/**
 * Page back: the newest PAGE messages below the oldest one shown (or the
 * latest, for a conversation never loaded). Sets view.olderMore.
 */
export async function loadOlder(conn, store, view) {
  if (view.loadingOlder || view.olderMore === false || conn.state !== 'online') return;
  if (view.kind === 'room' && !view.joined) return; // `joined` brings the first page
  const frame = { type: 'history', limit: PAGE };
  if (view.kind === 'room') frame.room = view.name;
  else frame.with = view.peer.id;
  const oldest = view.oldestId();
  if (oldest !== null) withEpoch(store, frame).before = oldest;
  view.loadingOlder = true;
  store.emit('older', { key: view.key });
  try {
    const h = await conn.request(frame);
    if (h.reset) {
      replaceWithLatest(store, view, h);
      return;
    }
    store.add(view, h.messages);
    view.olderMore = Boolean(h.more) && h.messages.length > 0; // an empty page cannot be paged past
    if (view.kind === 'dm' && oldest === null && h.messages.length) {
      // The latest page of a conversation: nothing is missing above its last id.
      view.lastId = Math.max(view.lastId || 0, h.messages[h.messages.length - 1].id);
    }
  } finally {
    view.loadingOlder = false;
    store.emit('older', { key: view.key });
  }
}
