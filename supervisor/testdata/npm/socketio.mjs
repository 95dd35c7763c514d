// The socket.io reference server that the stream tests run against, with a small HTTP
// control API for the test: POST /publish?n=N, POST /drop (?pause=1: and turn new connections
// away until POST /resume), GET /state. Every tick is emitted
// on namespace /feed with an ack callback; the connect's auth payload carries the token and
// the resume point ("since"). It prints "listening <port>" once it accepts connections.
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const token = process.env.FEED_TOKEN || '';
const ticks = [];
const sockets = new Set();
const state = { connections: 0, refused: 0, turnedAway: 0, pongs: 0, auths: [], joins: [], received: [], acked: [] };
let paused = false;

const http = createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname === '/publish') {
    const n = Number(url.searchParams.get('n') || 1);
    for (let i = 0; i < n; i++) {
      const seq = ticks.length + 1;
      ticks.push({ seq, value: `tick-${seq}` });
    }
    sockets.forEach((s) => s.pump());
  } else if (url.pathname === '/resume') {
    paused = false;
  } else if (url.pathname === '/drop') {
    paused = url.searchParams.get('pause') === '1';
    for (const s of sockets) {
      const ws = s.conn.transport?.socket;
      if (ws?.terminate) ws.terminate(); // no close frame, as a network failure
      else s.conn.close();
    }
  } else if (url.pathname !== '/state') {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ ...state, published: ticks.length, open: sockets.size }));
});

const io = new Server(http, {
  pingInterval: Number(process.env.PING_INTERVAL || 1000),
  pingTimeout: Number(process.env.PING_TIMEOUT || 2000),
  transports: ['websocket'],
  allowRequest: (_req, done) => {
    if (!paused) return done(null, true);
    state.turnedAway++;
    done('paused by the test', false);
  },
});

const feed = io.of('/feed');
feed.use((socket, next) => {
  if (socket.handshake.auth?.token !== token) {
    state.refused++;
    return next(new Error('bad token'));
  }
  next();
});
feed.on('connection', (socket) => {
  state.connections++;
  const since = socket.handshake.auth?.since ?? null;
  state.auths.push({ since });
  let next = since ?? 0;
  socket.pump = () => {
    while (next < ticks.length && socket.connected) {
      const t = ticks[next++];
      socket.emit('tick', t, () => state.acked.push(t.seq));
    }
  };
  socket.on('join', (m) => state.joins.push(m));
  socket.on('message', (m) => state.received.push(m));
  socket.on('disconnect', () => sockets.delete(socket));
  socket.conn.on('packet', (p) => {
    if (p.type === 'pong') state.pongs++; // answers to the server's pings
  });
  sockets.add(socket);
  socket.pump();
});

http.listen(0, '127.0.0.1', () => console.log(`listening ${http.address().port}`));
