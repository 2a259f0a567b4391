// The settings dialog (from the name menu): the user's name and signing out,
// and this browser's settings (prefs.js: language, theme, time format,
// sidebar order, desktop notifications, sound), each applied as soon as it is changed.
// A native modal <dialog>: the rest of the page is inert while it is open,
// Escape closes it, and the focus goes back where it was. A language or a time format
// shows everywhere on the page, which a reload draws again: the dialog then opens again
// as it was, the focus on the control just changed, so the user can go on choosing.

import { bdi, setChildren } from './dom.js';
import { setLanguage, t } from './i18n.js';
import { saved } from './persist.js';
import { pref, setPref } from './prefs.js';
import { userTag } from './text.js';

export class SettingsDialog {
  /**
   * els: {dialog, close, name, rename, signOut, signOutEverywhere, lang, theme, timeFormat, sort, desktop, sound,
   *       desktopNote}
   * actions: {rename(), signOut(everywhere), reload(): the page drawn again in the settings chosen}
   */
  constructor(els, store, actions) {
    this.els = els;
    this.store = store;
    this.actions = actions;
    this.returnFocus = null;
    els.close.addEventListener('click', () => this.close());
    els.dialog.addEventListener('close', () => this.closed());
    els.rename.addEventListener('click', () => this.then(actions.rename));
    els.signOut.addEventListener('click', () => this.then(() => actions.signOut(false)));
    els.signOutEverywhere.addEventListener('click', () => this.then(() => actions.signOut(true)));
    els.lang.addEventListener('change', () => {
      if (setLanguage(els.lang.value)) this.reload(els.lang);
    });
    els.theme.addEventListener('change', () => setPref('theme', els.theme.value));
    els.sort.addEventListener('change', () => setPref('sort', els.sort.value)); // the sidebar follows at once
    els.timeFormat.addEventListener('change', () => {
      setPref('timeFormat', els.timeFormat.value);
      this.reload(els.timeFormat);
    });
    els.desktop.addEventListener('change', () => this.desktopChanged());
    els.sound.addEventListener('change', () => setPref('sound', els.sound.checked));
    store.on('me', () => this.showName()); // opened again by a reload before the user is known
    this.reopen();
  }

  isOpen() {
    return this.els.dialog.open;
  }

  open() {
    const { els } = this;
    this.returnFocus = document.activeElement;
    this.showName();
    els.lang.value = pref('lang');
    els.theme.value = pref('theme');
    els.timeFormat.value = pref('timeFormat');
    els.sort.value = pref('sort');
    els.desktop.checked = pref('desktop') && permission() === 'granted';
    els.sound.checked = pref('sound');
    this.showDesktopNote();
    els.dialog.showModal();
    els.close.focus();
  }

  close() {
    this.els.dialog.close();
  }

  showName() {
    const { me } = this.store;
    setChildren(this.els.name, me ? [bdi(me.name), ' ', userTag(me.id)] : null);
  }

  // `control` changed a setting the page shows everywhere: reload, the dialog to open again after.
  reload(control) {
    const back = this.returnFocus && this.returnFocus.id;
    saved.settings.set({ focus: control.id, returnTo: back || null });
    this.actions.reload();
  }

  // After the reload reload() asked for: open again, the focus on the control it named, and
  // going back on close to what had it before the dialog first opened.
  reopen() {
    const was = saved.settings.get();
    if (!was) return;
    saved.settings.set(null);
    this.open();
    this.returnFocus = (was.returnTo && document.getElementById(was.returnTo)) || null;
    const control = was.focus && document.getElementById(was.focus);
    if (control && this.els.dialog.contains(control)) control.focus();
  }

  // The `close` event comes a task after the dialog closed: by then the user may have moved on
  // (Alt+↓ to another room put the focus in the message box), and the focus stays where they put it.
  closed() {
    const lost = document.activeElement === document.body || this.els.dialog.contains(document.activeElement);
    if (lost && this.returnFocus && this.returnFocus.isConnected) this.returnFocus.focus();
    this.returnFocus = null;
  }

  /** Close, then act (a dialog of its own, or leaving the page). */
  then(act) {
    this.close();
    act();
  }

  // The browser asks the user only now, when they turned notifications on (never on load).
  async desktopChanged() {
    const { desktop } = this.els;
    if (desktop.checked && permission() !== 'granted') {
      const answer = permission() === 'unsupported' ? 'denied' : await Notification.requestPermission();
      desktop.checked = answer === 'granted';
    }
    setPref('desktop', desktop.checked);
    this.showDesktopNote();
  }

  showDesktopNote() {
    const { desktopNote } = this.els;
    const state = permission();
    const note = state === 'unsupported' ? t('settings.desktop_unsupported')
      : state === 'denied' ? t('settings.desktop_denied') : '';
    desktopNote.textContent = note;
    desktopNote.hidden = !note;
  }
}

/** The Notification API's permission: 'granted', 'denied', 'default', or 'unsupported'. */
export function permission() {
  return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
}
