// The emoji picker by the composer: a button opens a panel with a search field (English or
// Chinese keywords, shortcodes) over a grid of emoji by group. Arrow keys move through the grid,
// Enter or a click puts the emoji at the composer's caret, Esc closes and gives the box its
// focus back. Opened for a reaction (reactions.js's "more"), the choice goes there instead.
// The data is fetched when the panel first opens (emoji-data.js).

import { h } from './dom.js';
import { lang, t } from './i18n.js';
import { GROUPS, emojiLabel, loadEmoji, searchEmoji } from './emoji-data.js';

const RESULTS_MAX = 120; // search results shown: enough to scan, few enough to stay quick

function emojiButton(e) {
  const label = emojiLabel(e, lang());
  return h('button', {
    type: 'button', class: 'emoji-option', tabindex: '-1', title: label, 'aria-label': label,
    'data-emoji': e.char, 'data-testid': 'emoji-option',
  }, e.char);
}

function section(title, emoji, id) {
  return h('section', { class: 'emoji-section', 'aria-labelledby': id },
    h('h3', { id, class: 'emoji-group' }, title),
    h('div', { class: 'emoji-grid' }, emoji.map(emojiButton)));
}

export class EmojiPicker {
  /** form: the composer's form (the panel goes in it); before: the element the button goes before; composer: its Composer. */
  constructor({ form, before }, composer) {
    this.composer = composer;
    this.all = null;
    this.target = null; // {choose(char), returnTo: element}: where this opening's choice goes, if not the composer
    this.button = h('button', {
      type: 'button', id: 'emoji-button', class: 'icon-button emoji-button', 'data-testid': 'emoji-button',
      'aria-label': t('emoji.open'), title: t('emoji.open'), 'aria-expanded': 'false', 'aria-controls': 'emoji-panel',
      onclick: () => (this.panel.hidden ? this.open() : this.close()),
    }, h('span', { 'aria-hidden': 'true' }, '😀'));
    this.search = h('input', {
      type: 'search', class: 'emoji-search', 'data-testid': 'emoji-search', autocomplete: 'off',
      'aria-label': t('emoji.search'), placeholder: t('emoji.search_placeholder'),
      oninput: () => this.render(),
    });
    this.status = h('p', { class: 'emoji-status', role: 'status', 'data-testid': 'emoji-status' });
    this.grid = h('div', { class: 'emoji-scroll', 'data-testid': 'emoji-grid' });
    this.panel = h('div', {
      id: 'emoji-panel', class: 'emoji-panel', role: 'dialog', 'aria-label': t('emoji.title'),
      'data-testid': 'emoji-panel', hidden: true,
    }, this.search, this.status, this.grid);
    before.before(this.button);
    form.append(this.panel);
    this.panel.addEventListener('keydown', (e) => this.key(e));
    this.grid.addEventListener('click', (e) => {
      const option = e.target.closest('[data-emoji]');
      if (option) this.choose(option.dataset.emoji);
    });
    document.addEventListener('pointerdown', (e) => {
      if (!this.panel.hidden && !this.panel.contains(e.target) && !this.button.contains(e.target)) this.close(false);
    });
  }

  /** Open; `target` ({choose(char), returnTo}) takes the choice instead of the composer. */
  async open(target = null) {
    this.target = target;
    this.panel.hidden = false;
    this.button.setAttribute('aria-expanded', 'true');
    this.search.value = '';
    this.search.focus();
    if (!this.all) {
      this.status.textContent = t('emoji.loading');
      try {
        this.all = await loadEmoji();
      } catch {
        this.status.textContent = t('emoji.load_failed');
        return;
      }
    }
    this.render();
  }

  /** Close; the composer's box (or the target's element) gets the focus back unless the user clicked elsewhere. */
  close(refocus = true) {
    if (this.panel.hidden) return;
    this.panel.hidden = true;
    this.button.setAttribute('aria-expanded', 'false');
    if (refocus) (this.target ? this.target.returnTo : this.composer.els.textarea).focus();
    this.target = null;
  }

  render() {
    if (!this.all) return;
    const query = this.search.value.trim();
    let sections;
    if (query) {
      const found = searchEmoji(this.all, query, RESULTS_MAX);
      this.status.textContent = found.length ? '' : t('emoji.none_found');
      sections = found.length ? [section(t('emoji.results'), found, 'emoji-results')] : [];
    } else {
      this.status.textContent = '';
      sections = GROUPS.map((key, group) => (key ? section(t(key),
        this.all.filter((e) => e.group === group), 'emoji-group-' + group) : null)).filter(Boolean);
    }
    this.grid.replaceChildren(...sections);
    this.grid.scrollTop = 0;
    const first = this.options()[0];
    if (first) first.tabIndex = 0; // the grid is one stop for Tab; arrows move within it
  }

  options() {
    return [...this.grid.querySelectorAll('[data-emoji]')];
  }

  choose(char) {
    const target = this.target;
    this.close();
    if (target) target.choose(char);
    else this.composer.insert(char);
  }

  // The option next to `from` in a direction, by where the options are on screen (rows differ per group).
  neighbour(from, key) {
    const options = this.options();
    const i = options.indexOf(from);
    if (key === 'ArrowRight') return options[i + 1];
    if (key === 'ArrowLeft') return options[i - 1];
    const here = from.getBoundingClientRect();
    const down = key === 'ArrowDown';
    const boxes = options.map((option) => [option, option.getBoundingClientRect()])
      .filter(([, box]) => (down ? box.top > here.top + 1 : box.top < here.top - 1));
    if (!boxes.length) return null;
    const row = (down ? Math.min : Math.max)(...boxes.map(([, box]) => box.top));
    const inRow = boxes.filter(([, box]) => Math.abs(box.top - row) <= 1);
    inRow.sort(([, a], [, b]) => Math.abs(a.left - here.left) - Math.abs(b.left - here.left));
    return inRow[0][0];
  }

  move(to) {
    if (!to) return;
    for (const option of this.options()) option.tabIndex = -1;
    to.tabIndex = 0;
    to.focus();
  }

  key(e) {
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation(); // closes the picker, not a drawer behind it
      this.close();
      return;
    }
    if (e.target === this.search) {
      if (e.key === 'ArrowDown') this.move(this.options()[0]);
      else if (e.key === 'Enter' && this.options()[0]) this.choose(this.options()[0].dataset.emoji);
      else return;
      e.preventDefault();
      return;
    }
    if (e.target.dataset.emoji && ['ArrowRight', 'ArrowLeft', 'ArrowDown', 'ArrowUp'].includes(e.key)) {
      e.preventDefault();
      const to = this.neighbour(e.target, e.key);
      if (to) this.move(to);
      else if (e.key === 'ArrowUp') this.search.focus();
    }
  }
}
