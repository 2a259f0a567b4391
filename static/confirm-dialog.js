// A question before what cannot be undone (deleting a message), asked in the page rather than with
// window.confirm(), whose buttons a page can neither word in its language nor style: a modal
// <dialog> (the browser keeps the focus inside it and makes the page behind it inert). The focus
// goes to the action's button, so Enter confirms; Esc or Cancel answers no. When it closes, the
// browser gives the focus back to what had it before.

export class ConfirmDialog {
  /** els: {dialog, question, detail, yes} (index.html #confirm-dialog: a form of method "dialog") */
  constructor(els) {
    this.els = els;
    this.answer = null; // resolves the question open, if any
    els.dialog.addEventListener('close', () => this.settle(els.dialog.returnValue === 'yes'));
  }

  /** Ask `question`; `detail`: what it is about, shown under it ('' for nothing); `yes`: the action's word. → Promise<boolean> */
  ask({ question, detail = '', yes }) {
    const { dialog, question: q, detail: d, yes: button } = this.els;
    this.settle(false); // a question still open is answered no, and this one takes its place
    q.textContent = question;
    d.textContent = detail;
    d.hidden = !detail;
    button.textContent = yes;
    dialog.returnValue = '';
    if (!dialog.open) dialog.showModal();
    button.focus();
    return new Promise((resolve) => { this.answer = resolve; });
  }

  settle(yes) {
    const { answer } = this;
    this.answer = null;
    if (answer) answer(yes);
  }
}
