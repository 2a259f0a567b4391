// Says waiting for their `ack`, for chatd-client.js. Each keeps its cid, so
// sending it again — after a reconnect or an `unavailable` — is stored once
// by the server however often it arrives (docs/protocol.md, "say" and
// "Retry or not"). A say goes out at most once per connection.

const RETRY_LATER_MS = 3000;
// The only refusals the same say may get past later; every other code is permanent.
const WORTH_A_RETRY = new Set(['unavailable', 'rate_limited']);

export class Says {
  /**
   * conn: the Connection; canSend(say) → whether it may go now (online, its room joined,
   * identified as the user it was written by).
   */
  constructor(conn, canSend) {
    this.conn = conn;
    this.canSend = canSend;
    this.waiting = new Map(); // cid → {frame, userId, resolve, reject, sentOn}
  }

  /** Queue a say frame ({type: 'say', cid, room | to, text}); → Promise of its ack. */
  add(frame, userId) {
    return new Promise((resolve, reject) => {
      if (this.waiting.has(frame.cid)) {
        reject({ type: 'error', code: 'duplicate_cid', message: 'a say with this cid is already waiting' });
        return;
      }
      this.waiting.set(frame.cid, { frame, userId, resolve, reject, sentOn: null });
      this.flush();
    });
  }

  /** Stop waiting for a say (it may still have reached the server). */
  drop(cid, error) {
    const say = this.waiting.get(cid);
    if (!say) return;
    this.waiting.delete(cid);
    say.reject(error);
  }

  /** Send every say that can go now. */
  flush() {
    for (const say of this.waiting.values()) this.send(say);
  }

  send(say) {
    const { conn } = this;
    if (say.sentOn === conn.generation || !this.canSend(say)) return;
    say.sentOn = conn.generation;
    conn.request(say.frame).then(
      (ack) => {
        this.waiting.delete(say.frame.cid);
        say.resolve(ack);
      },
      (err) => this.refused(say, err),
    );
  }

  refused(say, err) {
    if (this.waiting.get(say.frame.cid) !== say) return;
    say.sentOn = null;
    if (err.code === 'disconnected') return; // goes again on the next connection
    if (WORTH_A_RETRY.has(err.code)) {
      setTimeout(() => this.send(say), Math.max(RETRY_LATER_MS, err.retry_ms || 0));
      return;
    }
    this.drop(say.frame.cid, err);
  }
}
