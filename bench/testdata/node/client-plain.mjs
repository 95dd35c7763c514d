// The Node.js client as the throughput issue describes it, and as a user writes it: ws under
// reconnecting-websocket, each frame and a newline written to a file stream as it arrives,
// nothing gathered by hand (client.mjs gathers a turn's frames into one write). Compression
// is off, as it is in holdfast; left on, ws would offer permessage-deflate, the upstream
// would accept it, and both sides would spend their time in zlib. The stream is not waited
// on, so it buffers whatever the disk has not taken yet. It exits once it has written n frames.
//
// usage: node client-plain.mjs URL FILE N
import { createWriteStream } from 'node:fs';
import WebSocket from 'ws';
import ReconnectingWebSocket from 'reconnecting-websocket';

const [url, path, count] = process.argv.slice(2);
const n = Number(count);
const out = createWriteStream(path, { flags: 'a' });
let seen = 0;

class Uncompressed extends WebSocket {
  constructor(address, protocols) {
    super(address, protocols, { perMessageDeflate: false });
  }
}

const ws = new ReconnectingWebSocket(url, [], { WebSocket: Uncompressed });
ws.addEventListener('open', () => ws.send('{"type":"subscribe","channel":"processing"}'));
ws.addEventListener('message', (event) => {
  out.write(event.data + '\n');
  if (++seen === n) out.end(() => process.exit(0));
});
ws.addEventListener('error', (event) => { console.error(`node client: ${event.message}`); process.exit(1); });
