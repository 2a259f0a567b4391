// Telling the user about a message they are not looking at (the tab hidden, or another view on
// screen), as the view's notification level allows (docs/protocol.md, "Notification levels"): a
// desktop notification (Notification API, only with the permission and the setting on) and a short
// beep (WebAudio, no file; only with the sound setting on). The permission is never asked on load:
// in the settings (settings.js), or from a one-line offer shown after the first mention.

import { h } from './dom.js';
import { t } from './i18n.js';
import { pref, setPref } from './prefs.js';
import { permission } from './settings.js';
import { levelOf, mentionsMe } from './readstate.js';

const BODY_CHARS = 200;    // of the text in a notification
const BEEP_HZ = 880;
const BEEP_S = 0.18;
const BEEP_GAIN = 0.15;
const BEEP_EVERY_MS = 2000; // a burst of messages beeps once

/** Whether a message in `view` should alert the user `me` by the view's level (it is not theirs). */
export function alerts(view, m, me) {
  if (m.deleted || !me || (m.from && m.from.id === me.id)) return false;
  const level = levelOf(view);
  return level === 'all' || (level === 'mentions' && mentionsMe(m, me));
}

export class Alerts {
  /** els: {before: the element the offer goes above}; actions: {open(m): show message m in its view} */
  constructor(els, store, actions) {
    this.store = store;
    this.actions = actions;
    this.audio = null;
    this.beepedAt = 0;
    this.offer = h('div', { class: 'alert-offer', 'data-testid': 'desktop-offer', role: 'region',
      'aria-label': t('alerts.offer_label'), hidden: true },
    h('span', {}, t('alerts.offer')),
    h('button', { type: 'button', class: 'primary', 'data-testid': 'desktop-offer-yes', onclick: () => this.answer(true) },
      t('alerts.offer_yes')),
    h('button', { type: 'button', 'data-testid': 'desktop-offer-no', onclick: () => this.answer(false) },
      t('alerts.offer_no')));
    els.before.before(this.offer);
  }

  /** A live message m was added to `view` (client.js). */
  arrived(view, m) {
    const { store } = this;
    if (store.isWatched(view.key) || !alerts(view, m, store.me)) return;
    if (pref('desktop') && permission() === 'granted') this.notify(view, m);
    if (pref('sound')) this.beep();
    if (mentionsMe(m, store.me)) this.offerDesktop();
  }

  notify(view, m) {
    const text = m.text || '';
    const title = view.kind === 'room' ? t('alerts.title_room', { name: m.from.name, room: view.name })
      : m.from.name;
    const body = text.length > BODY_CHARS ? text.slice(0, BODY_CHARS - 1) + '…' : text;
    let note;
    try {
      note = new Notification(title, { body, tag: view.key, lang: document.documentElement.lang });
    } catch {
      return; // a browser that allows notifications from a service worker only (Chrome on Android)
    }
    note.onclick = () => {
      window.focus();
      note.close();
      this.actions.open(m);
    };
  }

  beep() {
    const now = Date.now();
    if (now - this.beepedAt < BEEP_EVERY_MS) return;
    this.beepedAt = now;
    try {
      this.audio = this.audio || new AudioContext();
      const { audio } = this;
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = BEEP_HZ;
      gain.gain.setValueAtTime(BEEP_GAIN, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + BEEP_S);
      tone.connect(gain).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + BEEP_S);
    } catch {
      // no audio output: the notification and the badge still say it
    }
  }

  // After the first mention, once per browser: would the user like desktop notifications?
  offerDesktop() {
    const state = permission();
    if (pref('desktop') || pref('desktopOffered') || state === 'denied' || state === 'unsupported') return;
    this.offer.hidden = false;
  }

  async answer(yes) {
    this.offer.hidden = true;
    setPref('desktopOffered', true);
    if (!yes) return;
    const answer = permission() === 'granted' ? 'granted' : await Notification.requestPermission();
    setPref('desktop', answer === 'granted');
  }
}
