// Reactions (docs/protocol.md, "Edits and reactions"): the bar under a message — each emoji
// with its count, who gave it on hover, the user's own highlighted, a click gives or takes it
// back — and the quick chooser the React button opens. A part of message-item.js.
// The chooser offers a quick set and "more", which opens the full picker (emoji-picker.js).

import { h } from './dom.js';
import { formatNumber, plural, t } from './i18n.js';
import { isolate } from './text.js';

export const QUICK_EMOJI = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '👀'];

// "alice, bob and 3 others": the users the server listed (the first ones) and how many more gave it,
// each name isolated (text.js): a right-to-left name cannot reorder the list.
function whoReacted(r) {
  const names = r.users.map((u) => isolate(u.name)).join(', ');
  const more = r.count - r.users.length;
  return more > 0 ? plural('reaction.who_more', more, { names }) : names;
}

/** The reactions of m, or null. */
export function reactionsPart(m, ctx) {
  if (!m.reactions || !m.reactions.length || m.deleted) return null;
  const me = ctx.store.me ? ctx.store.me.id : null;
  return h('div', { class: 'msg-reactions', role: 'group', 'aria-label': t('reaction.list'), 'data-testid': 'reactions' },
    m.reactions.map((r) => {
      const mine = r.users.some((u) => u.id === me);
      const who = whoReacted(r);
      return h('button', {
        type: 'button', class: mine ? 'reaction mine' : 'reaction', 'data-testid': 'reaction', 'data-emoji': r.emoji,
        'data-focus': 'reaction:' + r.emoji, 'aria-pressed': String(mine), title: who,
        'aria-label': t('reaction.label', { emoji: r.emoji, count: formatNumber(r.count), who }),
        onclick: () => ctx.actions.toggleReaction(m, r.emoji),
      }, h('span', { 'aria-hidden': 'true' }, r.emoji), ' ', h('span', { class: 'reaction-count' }, formatNumber(r.count)));
    }));
}

/** The React button and its chooser of QUICK_EMOJI and "more" (opened below the header; Esc closes it). */
export function reactButton(m, ctx) {
  const chooser = h('div', {
    class: 'react-chooser', role: 'group', 'aria-label': t('reaction.choose'), 'data-testid': 'react-chooser', hidden: true,
  }, QUICK_EMOJI.map((emoji) => h('button', {
    type: 'button', class: 'react-option', 'data-testid': 'react-option', 'data-emoji': emoji,
    'data-focus': 'react:' + emoji,
    'aria-label': t('reaction.give', { emoji }),
    onclick: () => {
      close();
      ctx.actions.toggleReaction(m, emoji);
    },
  }, emoji)), h('button', {
    type: 'button', class: 'react-option', 'data-testid': 'react-more', 'data-focus': 'react-more',
    'aria-label': t('reaction.more'),
    title: t('reaction.more'),
    onclick: () => {
      close();
      ctx.actions.pickReaction(m, button);
    },
  }, '+'));
  const button = h('button', {
    type: 'button', class: 'link msg-action', 'data-testid': 'react-message', 'data-focus': 'react',
    'aria-expanded': 'false', 'aria-label': t('message.react_to', { name: isolate(m.from.name) }),
    onclick: () => (chooser.hidden ? open() : close()),
  }, t('message.react'));
  function open() {
    chooser.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    chooser.querySelector('button').focus();
  }
  function close() {
    chooser.hidden = true;
    button.setAttribute('aria-expanded', 'false');
  }
  chooser.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape') return;
    e.stopPropagation();
    close();
    button.focus();
  });
  return h('span', { class: 'react-wrap' }, button, chooser);
}
