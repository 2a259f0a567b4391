// The WebSocket: connecting, reconnecting with backoff, pacing what we send,
// and pairing each answer with its request by `cid`. It knows nothing of
// rooms or messages; chatd-client.js speaks the protocol over it.
//
// States (the `state` event): offline → connecting → online, and on a drop
// reconnecting (retryAt = when) → connecting → … . "online" means identified:
// client.js calls ready() on `welcome`.
//
// Events: state, open, close {code, reason}, frame {the frame} (frames that answer
// no request of ours: message, presence, room, errors without a cid).

import { reconnectDelay, CLOSE_SERVICE_RESTART } from './backoff.js';
import { frameJson } from './wellformed.js';

const CONNECT_TIMEOUT_MS = 10000;
// Below the server's default per-connection limit (10/s, burst 20), so a
// reconnect that re-joins many rooms and resends says is not refused.
const SEND_RATE_PER_S = 6;
const SEND_BURST = 12;
const RATE_LIMITED_RETRIES = 5;
// A rate_limited request is resent after the server's retry_ms; a longer wait than this
// (a limit per address: new users, new rooms) is the caller's to show, not to sit out.
const RATE_LIMITED_WAIT_MAX_MS = 10000;
const CLOSE_ABANDONED = 4000; // our own code for a socket we stopped trusting
// A socket can look open for minutes on a dead network. After this long
// without a frame from the server we ask (`ping`, docs/protocol.md); if then
// nothing at all comes for PROBE_TIMEOUT_MS more, the socket is abandoned for
// a new one. Any frame will do, not only the `pong`: it may wait behind the
// answers to requests sent before it, which a slow link takes long to bring.
const PROBE_QUIET_MS = 15000;
const PROBE_TIMEOUT_MS = 20000;
const PROBE_CHECK_MS = 5000;

/** A fresh client id prefix: crypto.randomUUID needs a secure context, this does not. */
export function randomId(bytes = 6) {
  const a = new Uint8Array(bytes);
  crypto.getRandomValues(a);
  return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class Connection extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.ws = null;
    this.state = 'offline';
    this.retryAt = 0;
    this.attempt = 0;        // failed tries in a row, for the backoff
    this.generation = 0;     // +1 per socket, so late answers of an old socket are told apart
    this.wanted = false;     // should we be connected at all
    this.requests = new Map(); // cid → {frame, resolve, reject, tries, timer}
    this.queue = [];
    this.tokens = SEND_BURST;
    this.refilledAt = Date.now();
    this.drainTimer = null;
    this.retryTimer = null;
    this.probeTimer = null;
    this.heardAt = 0;        // Date.now() of the last frame from the server
    this.probing = false;
    this.cidPrefix = 'q' + randomId(4) + '-';
    this.cidCount = 0;

    // Coming back to the network or to the tab is a good moment to try again at once.
    window.addEventListener('online', () => this.retrySoon());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.retrySoon();
    });
  }

  on(type, fn) {
    this.addEventListener(type, (e) => fn(e.detail));
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  setState(state) {
    this.state = state;
    this.emit('state', { state });
  }

  isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  start() {
    this.wanted = true;
    if (!this.ws) this.connectNow();
  }

  stop() {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    if (this.ws) this.abandon(this.ws, 1000);
    this.setState('offline');
  }

  /** A new socket now: a connection identifies only once, so renaming needs one. */
  restart() {
    this.wanted = true;
    if (this.ws) this.abandon(this.ws, 1000, false);
    this.connectNow();
  }

  retrySoon() {
    if (this.wanted && !this.ws && (this.state === 'reconnecting' || this.state === 'offline')) this.connectNow();
  }

  connectNow() {
    clearTimeout(this.retryTimer);
    if (this.ws) return;
    this.setState('connecting');
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      console.error('chatd: cannot open', this.url, err);
      this.wanted = false;
      this.setState('offline');
      return;
    }
    this.ws = ws;
    this.generation++;
    const connectTimer = setTimeout(() => this.abandon(ws, CLOSE_ABANDONED), CONNECT_TIMEOUT_MS);
    ws.onopen = () => {
      clearTimeout(connectTimer);
      this.tokens = SEND_BURST;
      this.emit('open');
    };
    ws.onmessage = (e) => this.receive(e.data);
    ws.onerror = () => {}; // a close event follows with the code; that is where we act
    ws.onclose = (e) => {
      clearTimeout(connectTimer);
      if (this.ws === ws) this.closed(e.code, true, e.reason);
    };
  }

  /** The server accepted us (welcome): online, and the backoff starts over. */
  ready() {
    this.attempt = 0;
    this.setState('online');
    clearInterval(this.probeTimer);
    this.probeTimer = setInterval(() => this.probe(), PROBE_CHECK_MS);
  }

  probe() {
    if (this.state !== 'online') return;
    const quiet = Date.now() - this.heardAt;
    if (this.probing && quiet >= PROBE_QUIET_MS + PROBE_TIMEOUT_MS) {
      console.warn('chatd: nothing from the server in', quiet, 'ms; reconnecting');
      this.abandon(this.ws);
      return;
    }
    if (this.probing || quiet < PROBE_QUIET_MS) return;
    this.probing = true;
    this.request({ type: 'ping' })
      .catch(() => {}) // a lost socket is handled where it closes
      .finally(() => {
        this.probing = false;
      });
  }

  /**
   * Give up on a socket without waiting for its close handshake, which on a
   * dead network can take minutes. `reconnect` false: the caller connects itself.
   */
  abandon(ws, code = CLOSE_ABANDONED, reconnect = true) {
    if (this.ws !== ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close(code);
    } catch {
      // already closing
    }
    this.closed(code, reconnect);
  }

  closed(code, reconnect = true, reason = '') {
    this.ws = null;
    this.queue = [];
    clearInterval(this.probeTimer);
    this.probeTimer = null;
    clearTimeout(this.drainTimer);
    this.drainTimer = null;
    const requests = [...this.requests.values()];
    this.requests.clear();
    for (const r of requests) {
      clearTimeout(r.timer);
      r.reject({ type: 'error', code: 'disconnected', message: 'the connection was lost' });
    }
    this.emit('close', { code, reason });
    if (!reconnect) return;
    if (!this.wanted) {
      this.setState('offline');
      return;
    }
    if (navigator.onLine === false) {
      this.setState('offline'); // the window's `online` event brings us back
      return;
    }
    const delay = reconnectDelay(this.attempt, code);
    this.attempt = code === CLOSE_SERVICE_RESTART ? 0 : this.attempt + 1;
    this.retryAt = Date.now() + delay;
    this.setState('reconnecting');
    this.retryTimer = setTimeout(() => this.connectNow(), delay);
  }

  // Sending, paced by a token bucket

  send(frame) {
    if (!this.isOpen()) return false;
    this.queue.push(frameJson(frame)); // never an unpaired surrogate: the server refuses those
    this.drain();
    return true;
  }

  drain() {
    const now = Date.now();
    this.tokens = Math.min(SEND_BURST, this.tokens + ((now - this.refilledAt) / 1000) * SEND_RATE_PER_S);
    this.refilledAt = now;
    while (this.queue.length && this.tokens >= 1 && this.isOpen()) {
      this.ws.send(this.queue.shift());
      this.tokens -= 1;
    }
    if (this.queue.length && !this.drainTimer) {
      const wait = Math.ceil(((1 - this.tokens) / SEND_RATE_PER_S) * 1000);
      this.drainTimer = setTimeout(() => {
        this.drainTimer = null;
        this.drain();
      }, Math.max(wait, 10));
    }
  }

  nextCid() {
    this.cidCount += 1;
    return this.cidPrefix + this.cidCount;
  }

  /**
   * Send a request and wait for its answer. Resolves with the answer frame;
   * rejects with the `error` frame, or {code: 'disconnected'} if the socket
   * goes first. `timeoutMs`: no answer by then means the socket is dead.
   */
  request(frame, { timeoutMs = 0 } = {}) {
    return new Promise((resolve, reject) => {
      const cid = frame.cid || this.nextCid();
      const entry = { frame: { ...frame, cid }, resolve, reject, tries: 0, timer: null };
      if (this.requests.has(cid) || !this.send(entry.frame)) {
        reject({ type: 'error', code: 'disconnected', message: 'not connected' });
        return;
      }
      this.requests.set(cid, entry);
      if (timeoutMs) {
        const ws = this.ws;
        entry.timer = setTimeout(() => {
          console.warn('chatd: no answer in', timeoutMs, 'ms; reconnecting');
          this.abandon(ws);
        }, timeoutMs);
      }
    });
  }

  receive(data) {
    this.heardAt = Date.now();
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      console.warn('chatd: frame is not JSON', data);
      return;
    }
    if (!frame || typeof frame.type !== 'string') return;
    const entry = frame.cid !== undefined ? this.requests.get(frame.cid) : undefined;
    if (!entry) {
      this.emit('frame', frame);
      return;
    }
    if (frame.type === 'error' && frame.code === 'rate_limited' && entry.tries < RATE_LIMITED_RETRIES) {
      const wait = Math.max(1000 * (entry.tries + 1), frame.retry_ms || 0);
      if (wait <= RATE_LIMITED_WAIT_MAX_MS) {
        // Not carried out: send the same frame (same cid) again once the server says it may pass.
        entry.tries += 1;
        const ws = this.ws;
        setTimeout(() => {
          if (this.ws === ws && this.requests.get(frame.cid) === entry) this.send(entry.frame);
        }, wait);
        return;
      }
    }
    this.requests.delete(frame.cid);
    clearTimeout(entry.timer);
    if (frame.type === 'error') entry.reject(frame);
    else entry.resolve(frame);
  }
}
