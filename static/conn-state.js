// The connection state in the top bar: connecting / online / reconnecting
// in N s / offline, and a button to reconnect at once. Before its first connection
// (the page loading, or a first visit's name still being chosen) the page is about to
// connect, not offline: it says "Connecting…".

import { formatNumber, t } from './i18n.js';

// The catalogue key of each state's word.
const LABELS = {
  connecting: 'conn.connecting',
  online: 'conn.online',
  reconnecting: 'conn.reconnecting',
  offline: 'conn.offline',
};

export class ConnState {
  /** els: {box, label, countdown, retry}; conn: the ChatdClient */
  constructor(els, conn) {
    this.els = els;
    this.conn = conn;
    this.ticker = null;
    this.tried = false; // a connection was attempted since the page loaded
    conn.on('state', () => this.render());
    els.retry.addEventListener('click', () => conn.reconnectNow());
    this.render();
  }

  render() {
    const { box, label, countdown, retry } = this.els;
    if (this.conn.state !== 'offline') this.tried = true;
    const state = this.tried ? this.conn.state : 'connecting';
    box.dataset.state = state;
    // Only the state word is in the live region; a ticking countdown would be read out every second.
    const word = t(LABELS[state]);
    if (label.textContent !== word) label.textContent = word;
    clearInterval(this.ticker);
    if (state === 'reconnecting') {
      const tick = () => {
        const s = Math.max(0, Math.ceil((this.conn.retryAt - Date.now()) / 1000));
        countdown.textContent = t('conn.countdown', { seconds: formatNumber(s) });
      };
      tick();
      this.ticker = setInterval(tick, 1000);
    } else {
      countdown.textContent = state === 'offline' && navigator.onLine === false ? t('conn.no_network') : '';
    }
    retry.hidden = !(state === 'reconnecting' || (state === 'offline' && this.conn.wanted));
  }
}
