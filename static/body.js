// The body of a message as elements: markup.js's tree built as DOM nodes (never HTML), and a
// long body folded to a few screens with "Show more". A part of message-item.js (renderBody).

import { h } from './dom.js';
import { t } from './i18n.js';
import { parseMarkup } from './markup.js';

// A folded body shows this many lines (style.css .msg-text.folded max-height: keep them equal);
// about one screen of a desktop, two of a phone. A legal 4,000-character message of newlines
// would otherwise be ~50 screens.
export const FOLD_LINES = 30;
// A text this short cannot be taller than FOLD_LINES lines even on a phone (a line there holds
// more than this many characters), so only longer ones are measured.
const MIN_CHARS_PER_LINE = 20;

const LINK_REL = 'noopener noreferrer nofollow';

function inlineNode(node) {
  switch (node.type) {
    case 'code': return h('code', {}, node.text);
    case 'bold': return h('strong', {}, node.children.map(inlineNode));
    case 'italic': return h('em', {}, node.children.map(inlineNode));
    case 'link': return h('a', { href: node.href, target: '_blank', rel: LINK_REL }, node.text);
    default: return document.createTextNode(node.text);
  }
}

function blockNode(block) {
  if (block.type === 'code') return h('pre', { class: 'code-block', dir: 'ltr' }, h('code', {}, block.text));
  if (block.type === 'quote') return h('blockquote', { dir: 'auto' }, block.inline.map(inlineNode));
  return h('p', { dir: 'auto' }, block.inline.map(inlineNode));
}

/** Whether `text` could be taller than FOLD_LINES lines: only such a body gets a fold. */
export function mayFold(text) {
  return text.split('\n').length > FOLD_LINES || text.length > FOLD_LINES * MIN_CHARS_PER_LINE;
}

// The fold button shows only when the folded body really overflows, which depends on the width
// of the pane: measured when the list puts bodies on the page (measureFolds, before it sets its
// scroll position, which the button's height would otherwise push off the bottom), and again by one
// observer for every foldable body whenever the width changes.
function toggleOf(body) {
  return body.parentElement.querySelector(':scope > .fold-toggle');
}

function showToggles(bodies) {
  const folded = bodies.filter((body) => body.classList.contains('folded'));
  const overflows = folded.map((body) => body.scrollHeight > body.clientHeight + 1); // all read, then all written
  folded.forEach((body, i) => { toggleOf(body).hidden = !overflows[i]; });
}

const overflow = new ResizeObserver((entries) => showToggles(entries.map((entry) => entry.target)));

/** Show the "Show more" of each folded body inside `roots` (elements on the page) that overflows. */
export function measureFolds(roots) {
  showToggles(roots.flatMap((root) => [...root.querySelectorAll('.msg-fold > .msg-text')]));
}

let foldIds = 0;

function foldable(body) {
  const id = 'msg-body-' + ++foldIds;
  body.id = id;
  body.classList.add('folded');
  const button = h('button', {
    type: 'button', class: 'link fold-toggle', 'aria-expanded': 'false', 'aria-controls': id,
    'data-testid': 'fold-toggle', hidden: true,
  }, t('message.show_more'));
  button.addEventListener('click', () => {
    const folding = !body.classList.contains('folded');
    body.classList.toggle('folded', folding);
    button.setAttribute('aria-expanded', String(!folding));
    button.textContent = t(folding ? 'message.show_more' : 'message.show_less');
    // Folding a long body from its end would leave the reader far below the message.
    if (folding) body.scrollIntoView({ block: 'nearest' });
    // The list keeps this message where it now is as it grows or shrinks (scroll-anchor.js).
    body.dispatchEvent(new Event('keep-in-place', { bubbles: true }));
  });
  overflow.observe(body);
  return h('div', { class: 'msg-fold' }, body, button);
}

/** The body of message m: its text with markup and links; folded with a toggle when very long. */
export function renderBody(m, _ctx) {
  const body = h('div', { class: 'msg-text', dir: 'auto' }, parseMarkup(m.text).map(blockNode));
  return mayFold(m.text) ? foldable(body) : body;
}
