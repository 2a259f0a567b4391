// The "choose a name" form, shown over the page when there is no token, the
// token was refused, the name is taken, or the user wants another name.

import { t } from './i18n.js';

const NAME_MAX = 32;
// What can be told here at once; the rest of the rules (docs/protocol.md,
// "Names": invisible and bidirectional characters, stacked marks, names that
// look like one in use) the server applies, and its refusal says why.
const CONTROLS = /[\p{Cc}\u2028\u2029]/u;

export function nameProblem(name) {
  const n = [...name].length;
  if (!n) return t('name.empty');
  if (n > NAME_MAX) return t('name.too_long', { max: NAME_MAX });
  if (CONTROLS.test(name)) return t('name.controls');
  return '';
}

export class NameDialog {
  /** els: {overlay, form, input, error, cancel, app}; actions: {submit(name), cancel()} */
  constructor(els, actions) {
    this.els = els;
    this.actions = actions;
    this.returnFocus = null;
    els.form.addEventListener('submit', (e) => {
      e.preventDefault();
      const name = els.input.value.normalize('NFC').trim();
      const problem = nameProblem(name);
      if (problem) {
        this.showError(problem);
        els.input.focus();
        return;
      }
      this.close();
      actions.submit(name);
    });
    els.cancel.addEventListener('click', () => this.cancel());
    els.overlay.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !els.cancel.hidden) this.cancel();
    });
  }

  isOpen() {
    return !this.els.overlay.hidden;
  }

  /** {name: pre-filled, error: why we ask again, cancellable: the user may keep the current name} */
  open({ name = '', error = '', cancellable = false } = {}) {
    const { overlay, input, cancel, app } = this.els;
    if (!this.isOpen()) this.returnFocus = document.activeElement;
    input.value = name;
    this.showError(error);
    cancel.hidden = !cancellable;
    overlay.hidden = false;
    app.inert = true; // keeps keyboard and screen reader inside the form
    input.focus();
    input.select();
  }

  close() {
    const { overlay, app } = this.els;
    overlay.hidden = true;
    app.inert = false;
    if (this.returnFocus && this.returnFocus.isConnected) this.returnFocus.focus();
  }

  cancel() {
    this.close();
    this.actions.cancel();
  }

  showError(text) {
    const { error, input } = this.els;
    error.textContent = text;
    error.hidden = !text;
    if (text) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
}
