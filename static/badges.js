// The unread badge of a room or conversation in the sidebar, by its notification level
// (readstate.js badgeOf): a count, a mention count (@), or a dot — with words for screen readers.
// Visually and textually apart from a room's online count (sidebar.js: muted words).

import { h, srOnly } from './dom.js';
import { formatNumber, plural } from './i18n.js';
import { badgeOf } from './readstate.js';

const BADGE_MAX = 99; // more shows as "99+"

/** The badge element of `view` (store.js View), or null when nothing is unread. */
export function unreadBadge(view) {
  const b = view ? badgeOf(view) : null;
  if (!b) return null;
  const count = b.count > BADGE_MAX ? `${BADGE_MAX}+` : formatNumber(b.count) + (b.more ? '+' : '');
  const shown = { unread: count, mentions: '@' + count, dot: '' }[b.kind];
  // A dot hides the count on screen, not from a screen reader.
  const words = plural(b.kind === 'mentions' ? 'sidebar.mentions' : 'sidebar.unread', b.count);
  const classes = ['badge', `badge-${b.kind}`];
  if (b.muted) classes.push('muted');
  return h('span', { class: classes.join(' '), 'data-testid': 'badge', 'data-kind': b.kind },
    h('span', { 'aria-hidden': 'true' }, shown), srOnly(', ' + words));
}
