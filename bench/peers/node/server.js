// Node socket.io 4.8 peer for the iorelay benchmarks.
//
// Implements the events the load tool uses, with the same contract as iorelay:
//   /      rooms:join {room} -> ack {ok, rooms}; relay {to, event, args} -> to the room (sender excluded), ack {ok}
//   /chat  auth {name}; join {room} -> ack {ok, room, members, messages}, presence to the room;
//          message {room, text} -> `message` {id, room, from, text, ts} to everyone in the room, ack {ok, id, ts};
//          history {room, after, limit} -> ack {ok, messages (id > after, oldest first), has_more}
// CHAT_PRESENCE=0 makes join a simple join (no presence events), as the plain
// socket.io server of issue #12 had; CHAT_HISTORY sets the history ring (200),
// CHAT_MAX_TEXT the longest text (2000).
// Production settings: the `ws` engine with bufferutil, no per-message deflate, no logging.
// Optional Redis adapter (REDIS_URL) for the cluster scenario. Listens on loopback only.
'use strict';

const http = require('http');
const { Server } = require('socket.io');

const HOST = process.env.HOST || '127.0.0.1';
const PORT = Number(process.env.PORT || 3200);
const ROOM_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
const RESERVED = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);
const MAX_ROOMS = 50;
const HISTORY = Number(process.env.CHAT_HISTORY || 200);
const PRESENCE = process.env.CHAT_PRESENCE !== '0';
const JOIN_HISTORY = 50;
const MAX_TEXT = Number(process.env.CHAT_MAX_TEXT || 2000);

if (!/^127\./.test(HOST) && HOST !== 'localhost') {
  console.error('peer: listen on loopback only');
  process.exit(2);
}

const err = (code, message) => ({ ok: false, error: { code, message } });
const reply = (ack, value) => { if (typeof ack === 'function') ack(value); };

const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.setHeader('content-type', 'application/json');
    res.end('{"status":"ok"}');
  } else {
    res.statusCode = 404;
    res.end();
  }
});

const io = new Server(server, {
  serveClient: false,
  pingInterval: 25000,
  pingTimeout: 20000,
  maxHttpBufferSize: 1e6,
  perMessageDeflate: false,
  httpCompression: false,
});

function ownRooms(socket) {
  return [...socket.rooms].filter((r) => r !== socket.id).sort();
}

function roomsOf(to) {
  if (to === undefined || to === null) return [];
  return Array.isArray(to) ? to : [to];
}

io.of('/').on('connection', (socket) => {
  socket.on('rooms:join', (req, ack) => {
    if (!req || typeof req.room !== 'string' || !ROOM_RE.test(req.room)) return reply(ack, err('invalid_room', 'bad room'));
    const rooms = ownRooms(socket);
    if (!rooms.includes(req.room) && rooms.length >= MAX_ROOMS) return reply(ack, err('too_many_rooms', 'too many rooms'));
    socket.join(req.room);
    reply(ack, { ok: true, rooms: ownRooms(socket) });
  });
  socket.on('rooms:leave', (req, ack) => {
    if (!req || typeof req.room !== 'string' || !ROOM_RE.test(req.room)) return reply(ack, err('invalid_room', 'bad room'));
    socket.leave(req.room);
    reply(ack, { ok: true, rooms: ownRooms(socket) });
  });
  socket.on('relay', (req, ack) => {
    if (!req || typeof req.event !== 'string' || req.event.length < 1 || req.event.length > 64 || RESERVED.has(req.event)) {
      return reply(ack, err('invalid_event', 'bad event'));
    }
    const rooms = roomsOf(req.to);
    for (const room of rooms) {
      if (typeof room !== 'string' || !ROOM_RE.test(room)) return reply(ack, err('invalid_room', 'bad room'));
      if (!socket.rooms.has(room)) return reply(ack, err('not_in_room', `join ${room} before relaying to it`));
    }
    const args = Array.isArray(req.args) ? req.args : [];
    let target;
    if (rooms.length === 0) target = req.include_self ? io.of('/') : socket.broadcast;
    else target = req.include_self ? io.of('/').to(rooms) : socket.to(rooms);
    target.emit(req.event, ...args);
    reply(ack, { ok: true });
  });
});

// /chat: rooms with a history ring, presence and acknowledged messages.
const chat = io.of('/chat');
const histories = new Map(); // room -> {next, messages}
const members = new Map(); // room -> Map(sid -> user)

chat.use((socket, next) => {
  const name = socket.handshake.auth && socket.handshake.auth.name;
  if (typeof name !== 'string' || name.trim().length < 1 || name.length > 32) {
    return next(new Error('invalid_name: a display name is required'));
  }
  socket.data.user = { id: `guest:${name}`, name };
  next();
});

function memberList(room) {
  const m = members.get(room);
  return m ? [...m.values()] : [];
}

chat.on('connection', (socket) => {
  const user = socket.data.user;
  socket.on('join', (req, ack) => {
    if (!req || typeof req.room !== 'string' || !ROOM_RE.test(req.room)) return reply(ack, err('invalid_room', 'bad room'));
    const room = req.room;
    if (!socket.rooms.has(room) && socket.rooms.size - 1 >= MAX_ROOMS) return reply(ack, err('too_many_rooms', 'too many rooms'));
    socket.join(room);
    if (!members.has(room)) members.set(room, new Map());
    members.get(room).set(socket.id, user);
    const list = memberList(room);
    if (PRESENCE) chat.to(room).emit('presence', { room, joined: user, members: list });
    const h = histories.get(room);
    reply(ack, { ok: true, room, members: list, messages: h ? h.messages.slice(-JOIN_HISTORY) : [] });
  });
  socket.on('message', (req, ack) => {
    if (!req || typeof req.room !== 'string' || !ROOM_RE.test(req.room)) return reply(ack, err('invalid_room', 'bad room'));
    if (typeof req.text !== 'string' || req.text.trim().length === 0 || req.text.length > MAX_TEXT) {
      return reply(ack, err('invalid_text', 'bad text'));
    }
    if (!socket.rooms.has(req.room)) return reply(ack, err('not_in_room', 'join first'));
    let h = histories.get(req.room);
    if (!h) { h = { next: 1, messages: [] }; histories.set(req.room, h); }
    const msg = { id: h.next++, room: req.room, from: { id: user.id, name: user.name }, text: req.text, ts: Date.now() };
    h.messages.push(msg);
    if (h.messages.length > HISTORY) h.messages.shift();
    chat.to(req.room).emit('message', msg);
    reply(ack, { ok: true, id: msg.id, ts: msg.ts });
  });
  socket.on('history', (req, ack) => {
    if (!req || typeof req.room !== 'string' || !socket.rooms.has(req.room)) return reply(ack, err('not_in_room', 'join first'));
    const h = histories.get(req.room);
    const newer = (h ? h.messages : []).filter((m) => m.id > (Number(req.after) || 0));
    const limit = Math.min(Number(req.limit) || JOIN_HISTORY, HISTORY);
    reply(ack, { ok: true, messages: newer.slice(0, limit), has_more: newer.length > limit });
  });
  socket.on('disconnecting', () => {
    for (const room of socket.rooms) {
      const m = members.get(room);
      if (!m) continue;
      m.delete(socket.id);
      if (m.size === 0) members.delete(room);
      else if (PRESENCE) socket.to(room).emit('presence', { room, left: user, members: [...m.values()] });
    }
  });
});

async function main() {
  if (process.env.REDIS_URL) {
    const { createClient } = require('redis');
    const { createAdapter } = require('@socket.io/redis-adapter');
    const pub = createClient({ url: process.env.REDIS_URL });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub));
  }
  server.listen({ host: HOST, port: PORT, backlog: 4096 }, () => {
    console.error(`node socket.io ${require('socket.io/package.json').version} peer on ${HOST}:${PORT}`);
  });
}

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
main().catch((e) => { console.error(e); process.exit(1); });
