// Jumping to a message (a search result) in its room or conversation: the history around it
// (docs/protocol.md, "history", `around`), joined to what the view shows when they meet, else
// shown alone with a gap after it that "Load newer messages" fills page by page
// (`view.gapAfter`: the newest id before the gap; null when there is none).

import { PAGE } from './history.js';

function channel(view) {
  return view.kind === 'room' ? { room: view.name } : { with: view.peer.id };
}

/** The smallest id the view holds above `id`, or null. */
function firstAbove(view, id) {
  return view.ids.find((x) => x > id) ?? null;
}

/**
 * Make the view hold message `id` and those around it. chat: the ChatdClient.
 * Resolves once they are in the store; the caller then shows and highlights it.
 */
export async function loadAround(chat, store, view, id) {
  if (view.messages.has(id)) return;
  const page = await chat.history({ ...channel(view), around: id, limit: PAGE });
  const { messages } = page;
  const overlaps = messages.some((m) => view.messages.has(m.id));
  if (!overlaps && page.more_after) { // far from what is shown: show it alone, the gap after it to fill
    store.clearView(view);
    view.gapAfter = messages.length ? messages[messages.length - 1].id : id;
  }
  if (!view.ids.length || (messages.length && messages[0].id < view.ids[0])) view.olderMore = Boolean(page.more);
  store.historyRead(view, page);
  store.add(view, page.messages);
  store.emit('newer', { key: view.key });
}

/** Load the page after the gap; the gap closes once it reaches what the view holds (or the latest). */
export async function loadNewer(chat, store, view) {
  if (view.gapAfter === null || view.loadingNewer) return;
  view.loadingNewer = true;
  store.emit('newer', { key: view.key });
  try {
    const next = firstAbove(view, view.gapAfter);
    const page = await chat.history({ ...channel(view), after: view.gapAfter, before: next, limit: PAGE });
    store.historyRead(view, page);
    store.add(view, page.messages);
    if (!page.more || !page.messages.length) view.gapAfter = null;
    else view.gapAfter = page.messages[page.messages.length - 1].id;
  } finally {
    view.loadingNewer = false;
    store.emit('newer', { key: view.key });
  }
}
