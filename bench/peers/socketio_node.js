// Node Socket.IO peer. Same job and protocol subset as ws_node.js, carried
// in one Socket.IO event named "chat" whose argument is the JSON object
// chatd would send as a frame: client emits ("chat", request), server
// emits ("chat", answer). Rooms are Socket.IO rooms; a broadcast is
// io.to(room).emit(), which encodes the packet once for the whole room.
// WebSocket transport only (no long-polling upgrade dance).
//
//   node peers/socketio_node.js PORT
//
// socketio_sqlite.js uses start() and replaces `say` with the stored one of
// Socket.IO's tutorial; run directly, this is the peer as it always was.
'use strict';
const http = require('http');
const { Server } = require('socket.io');

let nextUser = 1;
let nextMessage = 1;

function answer(socket, req, frame) {
  if (req.cid !== undefined) frame.cid = req.cid;
  socket.emit('chat', frame);
}

// Serve on 127.0.0.1:port; returns { io, handlers } (request type -> function(socket, req), looked up per request).
function start(port, name = 'socket.io peer') {
  const httpServer = http.createServer();
  const io = new Server(httpServer, { transports: ['websocket'], serveClient: false, perMessageDeflate: false, maxHttpBufferSize: 65536 });

  const handlers = {
    identify(socket, req) {
      socket.data.user = { id: nextUser++, name: req.name };
      answer(socket, req, { type: 'welcome', session: socket.id, user: socket.data.user, token: '', messages: [], more: false });
    },
    create(socket, req) {
      answer(socket, req, { type: 'created', room: { name: req.room, topic: '' } });
    },
    join(socket, req) {
      const user = socket.data.user;
      if (!socket.rooms.has(req.room)) {
        socket.to(req.room).emit('chat', { type: 'presence', room: req.room, event: 'join', user });
        socket.join(req.room);
      }
      const members = [];
      for (const sid of io.sockets.adapter.rooms.get(req.room) || []) members.push(io.sockets.sockets.get(sid).data.user);
      answer(socket, req, { type: 'joined', room: req.room, topic: '', members, messages: [], more: false });
    },
    say(socket, req) {
      if (!socket.rooms.has(req.room)) return answer(socket, req, { type: 'error', code: 'not_in_room', message: 'join first' });
      const id = nextMessage++;
      const ts = Date.now();
      answer(socket, req, { type: 'ack', id, ts });
      io.to(req.room).emit('chat', { type: 'message', id, room: req.room, from: socket.data.user, text: req.text, ts });
    },
  };

  io.on('connection', (socket) => {
    socket.data.user = null;
    socket.on('chat', (req) => {
      if (req === null || typeof req !== 'object') return answer(socket, {}, { type: 'error', code: 'bad_json', message: 'not an object' });
      const handler = handlers[req.type];
      if (!handler) return answer(socket, req, { type: 'error', code: 'unknown_type', message: String(req.type) });
      if (!socket.data.user && req.type !== 'identify') return answer(socket, req, { type: 'error', code: 'not_identified', message: 'identify first' });
      handler(socket, req);
    });
    socket.on('disconnecting', () => {
      for (const room of socket.rooms) {
        if (room !== socket.id) socket.to(room).emit('chat', { type: 'presence', room, event: 'leave', user: socket.data.user });
      }
    });
  });
  httpServer.listen(port, '127.0.0.1', () => console.log(`${name} on 127.0.0.1:${port}`));
  return { io, handlers };
}

module.exports = { start, answer };
process.on('SIGTERM', () => process.exit(0));
if (require.main === module) start(Number(process.argv[2] || 8080));
