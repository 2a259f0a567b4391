// Node `ws` peer: the chat every Node tutorial writes. Speaks the subset of
// chatd's protocol the load generator uses (identify, create, join, say)
// over a plain WebSocket; no persistence. A broadcast stringifies the
// message once and calls ws.send() per member, as idiomatic `ws` code does.
//
//   node peers/ws_node.js PORT
'use strict';
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 8080);
const rooms = new Map(); // room name -> Set of sockets
let nextUser = 1;
let nextMessage = 1;

function presence(room, ws, event) {
  const data = JSON.stringify({ type: 'presence', room, event, user: ws.user });
  for (const other of rooms.get(room) || []) if (other !== ws) other.send(data);
}

function answer(ws, req, frame) {
  if (req.cid !== undefined) frame.cid = req.cid;
  ws.send(JSON.stringify(frame));
}

const handlers = {
  identify(ws, req) {
    ws.user = { id: nextUser++, name: req.name };
    answer(ws, req, { type: 'welcome', session: 's' + ws.user.id, user: ws.user, token: '', messages: [], more: false });
  },
  create(ws, req) {
    answer(ws, req, { type: 'created', room: { name: req.room, topic: '' } });
  },
  join(ws, req) {
    let members = rooms.get(req.room);
    if (!members) rooms.set(req.room, (members = new Set()));
    if (!members.has(ws)) {
      presence(req.room, ws, 'join');
      members.add(ws);
      ws.rooms.add(req.room);
    }
    const list = [...members].map((m) => m.user);
    answer(ws, req, { type: 'joined', room: req.room, topic: '', members: list, messages: [], more: false });
  },
  say(ws, req) {
    const members = rooms.get(req.room);
    if (!members || !members.has(ws)) return answer(ws, req, { type: 'error', code: 'not_in_room', message: 'join first' });
    const id = nextMessage++;
    const ts = Date.now();
    answer(ws, req, { type: 'ack', id, ts });
    const data = JSON.stringify({ type: 'message', id, room: req.room, from: ws.user, text: req.text, ts });
    for (const member of members) member.send(data);
  },
};

const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, maxPayload: 65536 });
wss.on('connection', (ws) => {
  ws.user = null;
  ws.rooms = new Set();
  ws.on('message', (raw) => {
    let req;
    try { req = JSON.parse(raw); } catch { return answer(ws, {}, { type: 'error', code: 'bad_json', message: 'not JSON' }); }
    const handler = handlers[req.type];
    if (!handler) return answer(ws, req, { type: 'error', code: 'unknown_type', message: String(req.type) });
    if (!ws.user && req.type !== 'identify') return answer(ws, req, { type: 'error', code: 'not_identified', message: 'identify first' });
    handler(ws, req);
  });
  ws.on('close', () => {
    for (const room of ws.rooms) {
      const members = rooms.get(room);
      members.delete(ws);
      presence(room, ws, 'leave');
    }
  });
});
wss.on('listening', () => console.log(`ws peer on 127.0.0.1:${port}`));
process.on('SIGTERM', () => process.exit(0));
