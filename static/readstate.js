// The user's read state of one room or conversation (docs/protocol.md, "Read state", "Notification
// levels"): the server's counts, kept up to date from the live messages and the `read` frames of
// the user's other devices, and the sidebar badge they make. Pure: views in, numbers out.
//
// A view (store.js View) carries: unread, unreadMore, mentions, lastRead (null until the server
// said), notify (null: the default of its kind).

/** The level a view has when the user never chose one (docs/protocol.md, "Notification levels"). */
export const DEFAULT_NOTIFY = { room: 'mentions', dm: 'all' };
export const LEVELS = ['all', 'mentions', 'none'];

/** The view's notification level: 'all', 'mentions' or 'none'. */
export function levelOf(view) {
  return view.notify || DEFAULT_NOTIFY[view.kind];
}

/** Whether room message m names the user `me` ({id}) with an @name: its `mentions` holds me.id. */
export function namesMe(m, me) {
  return Boolean(me) && Array.isArray(m.mentions) && m.mentions.includes(me.id);
}

/** Whether message m counts as a mention of `me`: it names them, or it is a private one from someone else. */
export function mentionsMe(m, me) {
  if (!me || m.deleted || (m.from && m.from.id === me.id)) return false;
  return m.to !== undefined || namesMe(m, me);
}

/**
 * The server's state of the view (a `room_state` or `conversations` entry of `welcome`, or `joined`:
 * {unread, unread_more?, mentions, last_read, notify}), replacing what was counted here.
 */
export function applyState(view, s) {
  view.unread = s.unread || 0;
  view.unreadMore = s.unread_more === true;
  view.mentions = s.mentions || 0;
  view.lastRead = typeof s.last_read === 'number' ? s.last_read : null;
  if (LEVELS.includes(s.notify)) view.notify = s.notify;
}

/**
 * A live message m arrived in the view: → whether the counts grew. It counts when it is from someone
 * else, above last_read, and the user is not looking at it (`watched`: the view on screen, tab visible).
 */
export function countNew(view, m, me, watched) {
  if (watched || m.deleted || !me || (m.from && m.from.id === me.id)) return false;
  if (view.lastRead !== null && m.id <= view.lastRead) return false;
  view.unread += 1;
  if (mentionsMe(m, me)) view.mentions += 1;
  return true;
}

/**
 * The user read the view up to message `id` (here, or on another device: a `read` frame): what is
 * left unread is what the view holds above it from others — never more than counted before (older
 * messages may not be held). → whether anything changed.
 */
export function applyRead(view, id, me) {
  if (view.lastRead !== null && id <= view.lastRead) return false;
  view.lastRead = id;
  let unread = 0;
  let mentions = 0;
  for (let i = view.ids.length - 1; i >= 0 && view.ids[i] > id; i--) {
    const m = view.messages.get(view.ids[i]);
    if (me && m.from && m.from.id === me.id) continue;
    if (m.deleted) continue;
    unread += 1;
    if (mentionsMe(m, me)) mentions += 1;
  }
  view.unread = Math.min(view.unread, unread);
  view.mentions = Math.min(view.mentions, mentions);
  view.unreadMore = false;
  return true;
}

/** The user sees everything the view holds (opened at the bottom, tab visible): nothing is unread. */
export function clearCounts(view) {
  const changed = view.unread > 0 || view.mentions > 0;
  view.unread = view.mentions = 0;
  view.unreadMore = false;
  return changed;
}

/**
 * The sidebar badge of a view by its level (docs/protocol.md, "Notification levels"):
 * {kind: 'unread'|'mentions'|'dot', count, more (the server counted no further), muted} or null.
 *   all      the unread count (also when some mention the user: in a conversation, every one does)
 *   mentions the mention count; other unread messages as a dot
 *   none     the mention count only, muted
 */
export function badgeOf(view) {
  const level = levelOf(view);
  if (level === 'all' && view.unread > 0) {
    return { kind: 'unread', count: view.unread, more: view.unreadMore, muted: false };
  }
  if (view.mentions > 0) return { kind: 'mentions', count: view.mentions, more: false, muted: level === 'none' };
  if (level === 'mentions' && view.unread > 0) return { kind: 'dot', count: view.unread, more: false, muted: false };
  return null;
}

/**
 * How much `view` asks for attention, for the sidebar's "unread first" order: 3 mentions (a
 * conversation's unread messages too, each for the user, whatever its badge shows), 2 unread
 * messages its level counts, 1 unread messages shown as a dot, 0 nothing, or a muted badge (level none).
 */
export function urgencyOf(view) {
  const b = view ? badgeOf(view) : null;
  if (!b || b.muted) return 0;
  return view.mentions > 0 ? 3 : { mentions: 3, unread: 2, dot: 1 }[b.kind];
}
