// Exact resume of one stream of messages — a room, or the user's private
// messages — for chatd-client.js (docs/protocol.md, "Reconnecting" steps
// 1, 4 and 5). A stream hands each message on once, in id order, with no gap:
// what a `joined`/`welcome` with `more: true` left out is fetched with
// `history` `after` (and `before` = the first live id), and live messages that
// arrive meanwhile wait until the gap is filled.

/** Where one stream is, and the messages it holds back while a gap is filled. */
export class Stream {
  /**
   * deliver(message, news, live): hands a message on; news = live or missed while away, not an old page;
   * live = it came as it was sent, after the `joined`/`welcome` whose read state counted what came before.
   * stale(): the server found the position stale (`reset: true`): what was handed on before is void.
   */
  constructor(deliver, stale) {
    this.deliver = deliver;
    this.stale = stale;
    this.lastId = null;  // highest id handed on with nothing missing below; null = never synced
    // The last change to its messages seen (docs/protocol.md, "Edits and reactions"): the `revised`
    // of its joined/welcome, raised by the `rev` of edited/reactions/deleted frames; null = none.
    this.revised = null;
    this.filling = false;
    this.before = null;  // the first live id that arrived while filling: the gap ends below it
    this.held = [];      // live messages that arrived while filling, in arrival (= id) order
  }

  /** Forget the position: the next join or identify starts from the latest page. */
  reset() {
    this.lastId = null;
    this.revised = null;
    this.held = [];
    this.before = null;
  }

  /** The last change as of a joined/welcome (its `revised`), or a change frame's `rev`. */
  revisedTo(rev) {
    if (typeof rev === 'number' && (this.revised === null || rev > this.revised)) this.revised = rev;
  }

  /** The position a join or identify resumes from: {since, revised} (revised only with since). */
  position(frame) {
    if (this.lastId === null) return;
    frame.since = this.lastId;
    if (this.revised !== null) frame.revised = this.revised;
  }

  /** A page answering a request: `since` null means it is the latest page (nothing to resume). */
  page(messages, since) {
    const news = since !== null;
    for (const m of messages) this.pass(m, news);
    if (this.lastId === null) this.lastId = since === null ? 0 : since;
  }

  /** A live message: handed on now, or held until the gap is filled. */
  live(message) {
    if (this.filling) {
      if (this.before === null) this.before = message.id;
      this.held.push(message);
    } else {
      this.pass(message, true, true);
    }
  }

  pass(message, news, live = false) {
    if (typeof message.id !== 'number' || (this.lastId !== null && message.id <= this.lastId)) return;
    this.lastId = message.id;
    this.deliver(message, news, live);
  }

  /**
   * Fetch what a resume cut short, page after page, then hand on what was held.
   * fetchPage({after, before}) → Promise<history frame>. Rejects as fetchPage does
   * (the connection lost: the next resume starts from lastId).
   */
  async fill(fetchPage) {
    this.filling = true;
    this.before = null;
    this.held = [];
    let held = [];
    try {
      for (;;) {
        const h = await fetchPage({ after: this.lastId, before: this.before });
        if (h.reset) {
          this.lastId = null;
          this.stale();
          this.page(h.messages, null);
          break;
        }
        for (const m of h.messages) this.pass(m, true);
        if (!h.more || !h.messages.length) break;
      }
      held = this.held;
    } finally {
      // On failure the held messages are dropped: the next resume, from lastId, brings them again.
      this.filling = false;
      this.held = [];
      this.before = null;
    }
    for (const m of held) this.pass(m, true, true);
  }
}
