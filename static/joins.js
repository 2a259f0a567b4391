// The rooms a chatd-client.js client is in: joined again on every connection
// with `since` = the last id handed on (and the epoch), so each room resumes
// exactly (resume.js), until the user leaves or the server takes them out.

import { Stream } from './resume.js';

const keyOf = (name) => name.toLowerCase(); // room names are compared case-insensitively (docs/protocol.md)

export class Joins {
  /** client: the ChatdClient (its conn, says, emit, withEpoch, history, background) */
  constructor(client) {
    this.client = client;
    this.rooms = new Map(); // key → {name, joined, joining, joinedFrame, waiters, stream}
  }

  get(name) {
    return this.rooms.get(keyOf(name)) || null;
  }

  /** Be in a room from now on; → Promise of its next (or current) `joined` frame. */
  join(name) {
    const { client } = this;
    let r = this.get(name);
    if (r && r.joined) return Promise.resolve(r.joinedFrame);
    if (!r) {
      r = { name, joined: false, joining: null, joinedFrame: null, waiters: [] };
      r.stream = new Stream((m, news, live) => client.emit('message', { message: m, news, live }),
        () => client.emit('stale', { room: r.name }));
      this.rooms.set(keyOf(name), r);
    }
    const answer = new Promise((resolve, reject) => r.waiters.push({ resolve, reject }));
    if (client.conn.state === 'online') this.send(r);
    return answer;
  }

  /** Identified on a new connection: join every room again. */
  rejoin() {
    for (const r of this.rooms.values()) this.send(r);
  }

  async send(r) {
    const { client } = this;
    const gen = client.conn.generation;
    if (r.joining === gen) return;
    r.joining = gen;
    const since = r.stream.lastId;
    const frame = { type: 'join', room: r.name };
    if (since !== null) r.stream.position(client.withEpoch(frame));
    let j;
    try {
      j = await client.conn.request(frame);
    } catch (err) {
      r.joining = null;
      if (err.code !== 'disconnected') this.forget(r, err);
      return;
    }
    r.joining = null;
    if (this.rooms.get(keyOf(r.name)) !== r) return; // left meanwhile
    if (j.reset) r.stream.reset();
    r.stream.revisedTo(j.revised);
    const fresh = since === null || Boolean(j.reset);
    Object.assign(r, { name: j.room, joined: true, joinedFrame: j });
    client.emit('joined', { room: j.room, frame: j, fresh });
    if (j.changed) client.emit('changed', { messages: j.changed }); // changed while away: the current state
    r.stream.page(j.messages || [], fresh ? null : since);
    for (const w of r.waiters.splice(0)) w.resolve(j);
    client.says.flush();
    if (!fresh && j.more) client.background(r.stream.fill((gap) => client.history({ room: r.name, ...gap })));
  }

  /** Leave a room here and, if joined, on the server. */
  async leave(name) {
    const r = this.get(name);
    if (!r) return;
    this.forget(r, { type: 'error', code: 'not_in_room', message: 'you left the room' });
    if (!r.joined) return;
    try {
      await this.client.conn.request({ type: 'leave', room: r.name });
    } catch (err) {
      if (err.code !== 'disconnected' && err.code !== 'not_in_room') throw err;
    }
  }

  /** Stop being in a room (left, refused, or taken out by the server): its waiting joins and says fail with error. */
  forget(r, error) {
    const { says } = this.client;
    this.rooms.delete(keyOf(r.name));
    for (const w of r.waiters.splice(0)) w.reject(error);
    for (const say of [...says.waiting.values()]) {
      if (say.frame.room !== undefined && keyOf(say.frame.room) === keyOf(r.name)) says.drop(say.frame.cid, error);
    }
  }

  /** A live room message: → whether it belongs to a room joined here (then it is handed on in order). */
  live(message) {
    const r = this.get(message.room);
    if (!r || !r.joined) return false;
    r.stream.live(message);
    return true;
  }

  /** A change to a message of a room joined here (edited, reactions, deleted): its `rev` is seen. */
  changed(frame) {
    const r = this.get(frame.room);
    if (r && r.joined) r.stream.revisedTo(frame.rev);
  }

  /** Whether a say to this room may go now: joined here, or not ours at all (the server answers not_in_room). */
  ready(name) {
    const r = this.get(name);
    return !r || r.joined;
  }

  /** The connection is gone: nothing is joined, every position is kept for the resume. */
  disconnected() {
    for (const r of this.rooms.values()) r.joined = false;
  }

  /** The ids held are void (another epoch): every room starts over from its latest page. */
  reset() {
    for (const r of this.rooms.values()) r.stream.reset();
  }
}
