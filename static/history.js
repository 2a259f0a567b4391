// Paging back through history (docs/protocol.md, "history") when the user
// scrolls up. It only adds to the view's Map, so a page that overlaps what is
// already shown changes nothing; a page that no longer joins what the view holds
// (it was emptied or refilled on the way: Jump to latest, Back, a fresh join) is
// dropped and asked again. Resuming after a reconnect is chatd-client.js's.

export const PAGE = 50;

/**
 * Page back: the newest PAGE messages below the oldest one shown (or the
 * latest, for a conversation never loaded). Sets view.olderMore.
 * chat: the ChatdClient.
 */
export async function loadOlder(chat, store, view) {
  if (view.loadingOlder || view.olderMore === false || chat.state !== 'online') return;
  if (view.kind === 'room' && !view.joined) return; // `joined` brings the first page
  const query = { limit: PAGE, before: view.oldestId() };
  if (view.kind === 'room') query.room = view.name;
  else query.with = view.peer.id;
  view.loadingOlder = true;
  store.emit('older', { key: view.key });
  let joins = true;
  try {
    const h = await chat.history(query);
    // A page that no longer joins what is held would sit below a gap nothing marks (and an emptied
    // view would never ask for its latest): dropped, and asked again below.
    joins = view.oldestId() === query.before;
    if (joins) {
      if (h.reset) store.clearView(view); // our position was stale: this is the latest page
      store.historyRead(view, h);
      store.add(view, h.messages);
      view.olderMore = Boolean(h.more) && h.messages.length > 0; // an empty page cannot be paged past
    }
  } finally {
    view.loadingOlder = false;
    store.emit('older', { key: view.key });
  }
  if (!joins) await loadOlder(chat, store, view);
}
