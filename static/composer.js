// Writing a message: Enter sends, Shift+Enter is a new line, a counter near
// the length limit, and the box grows with the text. In a room nobody here may
// write in (archived, or an announcement room for a user who is no moderator),
// or a conversation with a deleted account, the box is disabled with a note saying why.

import { formatNumber, t } from './i18n.js';

// The server's limits.max_text_chars defaults to 4000 and is not announced in
// the protocol; a server with another limit answers text_too_long, shown on
// the message.
export const MAX_TEXT_CHARS = 4000;
const SHOW_COUNT_FROM = MAX_TEXT_CHARS - 400;
const MAX_ROWS_PX = 200;

// The server counts characters (code points), not UTF-16 units.
const length = (text) => [...text].length;

const POSTING_ROLES = ['moderator', 'admin']; // who posts in an announcement room

/**
 * Why `me` cannot write in `view` (docs/protocol.md, "Archived and announcement rooms"; a conversation
 * with a deleted account: "history" `account_deleted`), or ''.
 */
export function closedReason(view, me) {
  if (!view) return '';
  if (view.kind === 'dm') return view.peer.deleted ? t('error.recipient_deleted') : '';
  if (view.archived) return t('composer.archived', { room: view.title() });
  const roles = (me && me.roles) || [];
  if (view.announcement && !roles.some((r) => POSTING_ROLES.includes(r))) {
    return t('composer.moderators_only', { room: view.title() });
  }
  return '';
}

export class Composer {
  /**
   * els: {form, textarea, counter, send}; actions: {say(text, attachments)};
   * files: the files going with the next message (upload-tray.js: ready(), busy(), clear()), or null.
   */
  constructor(els, store, actions, files = null) {
    this.els = els;
    this.store = store;
    this.actions = actions;
    this.files = files;
    const { form, textarea } = els;
    this.keyHandlers = []; // onKey()
    textarea.addEventListener('keydown', (e) => {
      if (this.keyHandlers.some((handle) => handle(e))) return;
      // While an IME composes, Enter picks a candidate; it must not send.
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        this.submit();
      }
    });
    textarea.addEventListener('input', () => this.update());
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submit();
    });
    // The note of a closed room, above the box (created here: the page's HTML stays as it is).
    this.note = document.createElement('p');
    this.note.className = 'composer-note';
    this.note.dataset.testid = 'composer-note';
    this.note.hidden = true;
    form.before(this.note);
    store.on('current', () => this.target());
    store.on('me', () => this.target());
    this.target();
    this.update();
  }

  target() {
    const view = this.store.currentView();
    const { textarea, send } = this.els;
    const closed = closedReason(view, this.store.me);
    textarea.disabled = send.disabled = !view || Boolean(closed);
    textarea.placeholder = closed || (view ? t('composer.placeholder', { room: view.title() }) : t('composer.no_room'));
    this.note.textContent = closed;
    this.note.hidden = !closed;
    if (view && !closed) this.update();
  }

  /** Put a refused message back in the box to be changed; a draft already there is kept below it. */
  edit(text) {
    const { textarea } = this.els;
    textarea.value = textarea.value.trim() ? text + '\n' + textarea.value : text;
    this.update();
    textarea.focus();
    textarea.setSelectionRange(text.length, text.length);
  }

  /** Let `handle(keydownEvent)` see a key first (a completion list open); it returns true when it took it. */
  onKey(handle) {
    this.keyHandlers.push(handle);
  }

  /** Put `text` in place of the box's characters from..to (the selection by default), the caret after it. */
  insert(text, from = this.els.textarea.selectionStart, to = this.els.textarea.selectionEnd) {
    const { textarea } = this.els;
    textarea.focus();
    textarea.setRangeText(text, from, to, 'end');
    textarea.dispatchEvent(new Event('input', { bubbles: true })); // counter, height, and whoever listens
  }

  submit() {
    const { textarea } = this.els;
    const text = textarea.value.trim();
    const view = this.store.currentView();
    const files = this.files ? this.files.ready() : [];
    if ((!text && !files.length) || length(text) > MAX_TEXT_CHARS || !view || closedReason(view, this.store.me)) return;
    if (this.files && this.files.busy()) return; // the message waits for its files
    this.actions.say(text, files);
    if (this.files) this.files.clear();
    textarea.value = '';
    this.update();
    textarea.focus();
  }

  update() {
    const { textarea, counter, send } = this.els;
    const n = length(textarea.value);
    const over = n > MAX_TEXT_CHARS;
    counter.hidden = n < SHOW_COUNT_FROM;
    const counts = { over: formatNumber(n - MAX_TEXT_CHARS), n: formatNumber(n), max: formatNumber(MAX_TEXT_CHARS) };
    counter.textContent = over ? t('composer.too_long', counts) : t('composer.count', counts);
    counter.classList.toggle('over', over);
    if (over) textarea.setAttribute('aria-invalid', 'true');
    else textarea.removeAttribute('aria-invalid');
    const view = this.store.currentView();
    send.disabled = over || !view || Boolean(closedReason(view, this.store.me)) || Boolean(this.files && this.files.busy());
    // Grow with the text up to a limit; style set from script is allowed by the page's CSP.
    textarea.style.height = 'auto';
    textarea.style.height = Math.min(textarea.scrollHeight + 2, MAX_ROWS_PX) + 'px';
  }
}
