// The graphql-ws reference server (over ws) that the stream tests run against, with a small
// HTTP control API for the test: POST /publish?n=N, POST /drop (?pause=1: and turn new
// connections away until POST /resume), POST /close?code=C, POST /complete (every running
// subscription ends: the server sends complete), GET /state. It prints "listening <port>" once it accepts connections.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import { buildSchema } from 'graphql';

const token = process.env.FEED_TOKEN || '';
const ticks = []; // published events; seq n is ticks[n-1]
let wake = [];
let started = 0; // subscriptions started
let completeUpTo = 0; // subscriptions numbered up to this end, as if the source ran dry
const state = { connections: 0, refused: 0, turnedAway: 0, subscribes: [], sent: [], pings: 0 };
let paused = false;

const schema = buildSchema(`
  type Tick { seq: Int!, value: String! }
  type Query { published: Int! }
  type Mutation { send(body: String!): Int! }
  type Subscription { ticks(since: Int): Tick! }
`);

const roots = {
  query: { published: () => ticks.length },
  mutation: {
    send: ({ body }) => {
      state.sent.push(body);
      return state.sent.length;
    },
  },
  subscription: {
    ticks: async function* ({ since }) {
      const me = ++started;
      let next = since ?? 0;
      for (;;) {
        while (next < ticks.length) yield { ticks: ticks[next++] };
        if (me <= completeUpTo) return; // the server then sends complete
        await new Promise((resolve) => wake.push(resolve));
      }
    },
  },
};

const http = createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname === '/publish') {
    const n = Number(url.searchParams.get('n') || 1);
    for (let i = 0; i < n; i++) {
      const seq = ticks.length + 1;
      ticks.push({ seq, value: `tick-${seq}` });
    }
    const w = wake;
    wake = [];
    w.forEach((resolve) => resolve());
  } else if (url.pathname === '/complete') {
    completeUpTo = started;
    const w = wake;
    wake = [];
    w.forEach((resolve) => resolve());
  } else if (url.pathname === '/drop') {
    paused = url.searchParams.get('pause') === '1';
    wss.clients.forEach((ws) => ws.terminate());
  } else if (url.pathname === '/resume') {
    paused = false;
  } else if (url.pathname === '/close') {
    const code = Number(url.searchParams.get('code'));
    wss.clients.forEach((ws) => ws.close(code, 'closed by the test'));
  } else if (url.pathname !== '/state') {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ ...state, published: ticks.length, open: wss.clients.size }));
});

const wss = new WebSocketServer({
  server: http,
  path: '/graphql',
  verifyClient: (_info, done) => {
    if (!paused) return done(true);
    state.turnedAway++;
    done(false, 503, 'paused by the test');
  },
});
wss.on('connection', (ws) => {
  ws.on('message', (data) => {
    try {
      if (JSON.parse(data.toString()).type === 'ping') state.pings++;
    } catch {}
  });
});
useServer(
  {
    schema,
    roots,
    onConnect: (ctx) => {
      if (ctx.connectionParams?.token !== token) {
        state.refused++;
        return false; // closes with 4403 Forbidden
      }
      state.connections++;
      return true;
    },
    onSubscribe: (_ctx, id, payload) => {
      state.subscribes.push({ id, operationName: payload.operationName ?? null, variables: payload.variables ?? null });
    },
  },
  wss,
);

http.listen(0, '127.0.0.1', () => console.log(`listening ${http.address().port}`));
