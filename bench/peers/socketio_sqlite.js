// Node Socket.IO + SQLite: the chat of Socket.IO's own tutorial, "Server
// delivery" and "Client delivery" (https://socket.io/docs/v4/tutorial/step-7
// and step-8), with the npm packages it uses (`sqlite` on `sqlite3`). The
// same server as socketio_node.js (its handlers, one event "chat") except:
//
// - say: one INSERT per message, as the tutorial's `db.run('INSERT INTO
//   messages (content, client_offset) VALUES (?, ?)')`; the ack and the
//   broadcast only once it is stored. client_offset is UNIQUE: a message
//   sent again with the same cid is acknowledged again (with the id it was
//   stored under) and not stored or broadcast twice (the tutorial's errno 19
//   branch). Any other failure answers nothing: the client retries.
// - on connect: the tutorial's replay, every stored message with id >
//   `socket.handshake.auth.serverOffset`, one emit per row (`db.each`). Its
//   single room becomes the rooms the client names beside its offset in the
//   Socket.IO CONNECT packet: `40{"serverOffset":N,"rooms":["r1"]}`; a
//   client that gives no offset gets no replay.
//
// Beyond the tutorial, for a fair comparison with chatd (never slower than
// the tutorial): `room`, `from` and `ts` columns (chatd's message frame
// needs them) and an index on (room, id) for the replay of one room; the
// database in WAL mode with synchronous = NORMAL, chatd's own SQLite
// settings (the tutorial leaves SQLite's defaults: a rollback journal and an
// fsync per message, slower and more durable). connectionStateRecovery, the
// tutorial's in-memory recovery, is left off: the load generator resumes
// through the stored offset, and the option only adds work per packet.
//
//   node peers/socketio_sqlite.js PORT [DATABASE]      (default: chat.db in the working directory)
'use strict';
const sqlite3 = require('sqlite3');
const { open } = require('sqlite');
const { start, answer } = require('./socketio_node.js');

const SQLITE_CONSTRAINT = 19;

async function main() {
  const port = Number(process.argv[2] || 8080);
  const db = await open({ filename: process.argv[3] || 'chat.db', driver: sqlite3.Database });
  await db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
  await db.exec(`
    CREATE TABLE IF NOT EXISTS messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        client_offset TEXT UNIQUE,
        content TEXT,
        room TEXT,
        from_id INTEGER,
        from_name TEXT,
        ts INTEGER
    );
    CREATE INDEX IF NOT EXISTS messages_room_id ON messages (room, id);
  `);

  const { io, handlers } = start(port, 'socket.io + sqlite peer (tutorial design)');

  handlers.say = async (socket, req) => {
    if (!socket.rooms.has(req.room)) return answer(socket, req, { type: 'error', code: 'not_in_room', message: 'join first' });
    const user = socket.data.user;
    // The tutorial's client makes its offsets unique; a cid is unique per user only.
    const clientOffset = req.cid === undefined ? null : `${user.name}\n${req.cid}`;
    const ts = Date.now();
    let result;
    try {
      result = await db.run(
        'INSERT INTO messages (client_offset, content, room, from_id, from_name, ts) VALUES (?, ?, ?, ?, ?, ?)',
        clientOffset, req.text, req.room, user.id, user.name, ts);
    } catch (e) {
      if (e.errno === SQLITE_CONSTRAINT) { // stored already: acknowledge it again
        const row = await db.get('SELECT id, ts FROM messages WHERE client_offset = ?', clientOffset);
        answer(socket, req, { type: 'ack', id: row.id, ts: row.ts });
      } else {
        console.error(`insert failed, no ack: ${e}`);
      }
      return;
    }
    answer(socket, req, { type: 'ack', id: result.lastID, ts });
    io.to(req.room).emit('chat', { type: 'message', id: result.lastID, room: req.room, from: user, text: req.text, ts });
  };

  // After socketio_node.js's own connection listener (which takes the requests): the replay.
  io.on('connection', async (socket) => {
    const { serverOffset, rooms } = socket.handshake.auth;
    if (serverOffset === undefined || !Array.isArray(rooms)) return;
    try {
      for (const room of rooms) {
        await db.each('SELECT id, content, room, from_id, from_name, ts FROM messages WHERE room = ? AND id > ? ORDER BY id',
          [room, serverOffset],
          (_err, row) => {
            socket.emit('chat', { type: 'message', id: row.id, room: row.room, from: { id: row.from_id, name: row.from_name }, text: row.content, ts: row.ts });
          });
      }
    } catch (e) {
      console.error(`replay failed: ${e}`);
    }
  });
}

main();
