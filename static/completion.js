// Completion in the composer: `:smi` offers emoji by shortcode or keyword (a whole `:smile:`
// becomes 😄 as its colon is typed), `@an` offers the people of the room or conversation.
// A list under the caret's word: ↑/↓ move, Enter or Tab chooses, Esc closes, a click chooses.
//
// Mentions follow the server's rule (docs/protocol.md, "Mentions", chatd/mentions.py): the
// chosen name goes in as "@" + the display name exactly as shown, spaces included, then a
// space ("@Ana María ", "@张三 "), so the name never runs on into the next word.

import { bdi, h } from './dom.js';
import { lang, t } from './i18n.js';
import { byShortcode, emojiLabel, loadEmoji, searchEmoji } from './emoji-data.js';

const LIMIT = 8; // suggestions shown at once
const NAME_MAX = 32; // chatd's longest name (chatd.names): a longer word after "@" is no name
// ":" + at least 2 characters at the caret, the colon opening a word (not 12:30 or http:).
const EMOJI_TOKEN = /(?:^|[\s([{])(:([^\s:]{2,32}))$/u;
// A whole ":shortcode:" just closed by its second colon.
const WHOLE_SHORTCODE = /(?:^|[\s([{])(:([a-z0-9_+-]{2,60}):)$/iu;
// "@" opening a mention as the server reads it: at the start or after neither a word character nor "@".
const MENTION_TOKEN = new RegExp(`(?:^|[^\\p{L}\\p{N}_@])(@([^@\\n]{0,${NAME_MAX}}))$`, 'u');

/** The word being completed before `caret` in `text`: {kind: 'emoji'|'mention', start, query} or null. Pure. */
export function activeToken(text, caret) {
  const before = text.slice(0, caret);
  for (const [kind, pattern] of [['emoji', EMOJI_TOKEN], ['mention', MENTION_TOKEN]]) {
    const found = pattern.exec(before);
    if (found) return { kind, start: caret - found[1].length, query: found[2] };
  }
  return null;
}

/** The people whose names fit `query` (a name's start, or one of its words'), names starting with it first. Pure. */
export function matchPeople(people, query, limit = LIMIT) {
  const q = query.toLowerCase();
  const starts = [];
  const words = [];
  for (const user of people) {
    const name = user.name.toLowerCase();
    if (name.startsWith(q)) starts.push(user);
    else if (name.split(/\s+/).some((w) => w.startsWith(q))) words.push(user);
  }
  const byName = (a, b) => a.name.localeCompare(b.name);
  return [...starts.sort(byName), ...words.sort(byName)].slice(0, limit);
}

// Who may be mentioned here, as far as the page knows: the room's members it sees, then the
// authors of the messages it holds; in a conversation, the other person. Never the user.
function peopleHere(store) {
  const view = store.currentView();
  if (!view) return [];
  const people = new Map();
  if (view.kind === 'dm') people.set(view.peer.id, view.peer);
  else {
    for (const user of view.members.values()) people.set(user.id, user);
    for (const m of view.messages.values()) if (m.from && !people.has(m.from.id)) people.set(m.from.id, m.from);
  }
  if (store.me) people.delete(store.me.id);
  return [...people.values()];
}

let lists = 0;

export class Completion {
  /** textarea: the composer's box; composer: its Composer (insert, onKey); store: the Store. */
  constructor(textarea, composer, store) {
    this.textarea = textarea;
    this.composer = composer;
    this.store = store;
    this.items = [];
    this.active = 0;
    this.token = null;
    this.asked = 0; // the newest suggestion request: older answers arriving late are dropped
    this.list = h('ul', {
      id: 'completion-' + ++lists, class: 'completion', role: 'listbox', 'data-testid': 'completion',
      'aria-label': t('composer.suggestions'), hidden: true,
    });
    textarea.form.append(this.list);
    textarea.setAttribute('aria-autocomplete', 'list');
    textarea.addEventListener('input', (e) => this.changed(e));
    textarea.addEventListener('blur', () => this.close());
    textarea.addEventListener('click', () => this.refresh());
    composer.onKey((e) => this.key(e));
  }

  changed(e) {
    if (e.isComposing) return; // an IME is still composing the word
    const { value, selectionStart } = this.textarea;
    const whole = WHOLE_SHORTCODE.exec(value.slice(0, selectionStart));
    if (whole) {
      this.replaceShortcode(whole, selectionStart);
      return;
    }
    this.refresh();
  }

  async replaceShortcode(found, caret) {
    const emoji = byShortcode(await loadEmoji().catch(() => []), found[2]);
    const start = caret - found[1].length;
    // Only if the box still holds what was typed: the user may have gone on meanwhile.
    if (emoji && this.textarea.value.slice(start, caret) === found[1]) this.composer.insert(emoji.char, start, caret);
    else this.refresh();
  }

  async refresh() {
    const token = activeToken(this.textarea.value, this.textarea.selectionStart);
    const asked = ++this.asked;
    if (!token) {
      this.close();
      return;
    }
    let items;
    if (token.kind === 'mention') {
      items = matchPeople(peopleHere(this.store), token.query).map((user) => ({
        insert: '@' + user.name + ' ', node: [h('span', { class: 'completion-at', 'aria-hidden': 'true' }, '@'),
          bdi(user.name)],
      }));
    } else {
      const all = await loadEmoji().catch(() => []);
      const query = token.query.toLowerCase();
      items = searchEmoji(all, query, LIMIT).map((e) => {
        const code = e.shortcodes.find((s) => s.startsWith(query)) || e.shortcodes[0]; // the one typed, if any
        return {
          insert: e.char, label: emojiLabel(e, lang()),
          node: [h('span', { class: 'completion-emoji', 'aria-hidden': 'true' }, e.char), ' ',
            code ? ':' + code + ':' : emojiLabel(e, lang())],
        };
      });
    }
    if (asked !== this.asked) return;
    this.token = token;
    this.show(items);
  }

  show(items) {
    this.items = items;
    this.active = 0;
    if (!items.length) {
      this.close();
      return;
    }
    this.list.replaceChildren(...items.map((item, i) => h('li', {
      id: `${this.list.id}-${i}`, role: 'option', class: 'completion-option', 'data-testid': 'completion-option',
      'aria-label': item.label, onmousedown: (e) => {
        e.preventDefault(); // the box keeps the focus
        this.choose(i);
      },
    }, item.node)));
    this.list.hidden = false;
    this.textarea.setAttribute('aria-controls', this.list.id);
    this.highlight(0);
  }

  highlight(i) {
    this.active = (i + this.items.length) % this.items.length;
    [...this.list.children].forEach((li, n) => li.setAttribute('aria-selected', String(n === this.active)));
    const li = this.list.children[this.active];
    this.textarea.setAttribute('aria-activedescendant', li.id);
    li.scrollIntoView({ block: 'nearest' });
  }

  choose(i) {
    const item = this.items[i];
    const { token } = this;
    this.close();
    if (item && token) this.composer.insert(item.insert, token.start, this.textarea.selectionStart);
  }

  close() {
    this.asked++;
    this.items = [];
    this.token = null;
    this.list.hidden = true;
    this.list.replaceChildren();
    this.textarea.removeAttribute('aria-activedescendant');
    this.textarea.removeAttribute('aria-controls');
  }

  /** The composer's key hook: the list's keys while it is open. */
  key(e) {
    if (this.list.hidden || e.isComposing) return false;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') this.highlight(this.active + (e.key === 'ArrowDown' ? 1 : -1));
    else if ((e.key === 'Enter' && !e.shiftKey) || (e.key === 'Tab' && !e.shiftKey)) this.choose(this.active);
    else if (e.key === 'Escape') this.close();
    else return false;
    e.preventDefault();
    e.stopPropagation(); // Esc closes the list, not a drawer or panel behind it
    return true;
  }
}
