// Small marks next to names: a user's avatar and "bot" badge (user refs,
// docs/protocol.md), and the lock of a members-only room.

import { h, srOnly } from './dom.js';
import { t } from './i18n.js';

const AVATAR_PX = 24;

/**
 * The user's avatar, only when the server sent one (it does only where its config allows); no
 * Referer goes with the request, so the host never learns which room or page showed it.
 */
export function avatar(user) {
  if (typeof user.avatar !== 'string' || !/^https?:\/\//i.test(user.avatar)) return null;
  return h('img', {
    class: 'avatar', src: user.avatar, alt: '', width: AVATAR_PX, height: AVATAR_PX,
    referrerpolicy: 'no-referrer', loading: 'lazy', decoding: 'async', 'data-testid': 'avatar',
  });
}

/** "bot" after the name of a bot user. */
export function botBadge(user) {
  return user.bot === true ? h('span', { class: 'bot-badge', 'data-testid': 'bot-badge' }, t('marks.bot')) : null;
}

/** A lock for a members-only room; null for an open one. */
export function lock(membersOnly) {
  if (!membersOnly) return null;
  return h('span', { class: 'lock', title: t('marks.members_only'), 'data-testid': 'members-only' },
    h('span', { 'aria-hidden': 'true' }, '🔒'), srOnly(t('marks.members_only_sr')));
}
