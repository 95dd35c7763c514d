// The plain Node.js client of holdfast-bench: what a user could write in twenty lines. It
// subscribes like holdfast's bench stream, appends every frame and a newline to a file in
// writes of up to 64 KiB (flushed as soon as no more frames are waiting), and exits once it
// has written n frames.
//
// usage: node client.mjs URL FILE N
import { openSync, writeSync, closeSync } from 'node:fs';
import WebSocket from 'ws';

const [url, path, count] = process.argv.slice(2);
const n = Number(count);
const fd = openSync(path, 'a');
const nl = Buffer.from('\n');
let pending = [], bytes = 0, seen = 0, scheduled = false;

function flush() {
  scheduled = false;
  if (bytes > 0) writeSync(fd, Buffer.concat(pending, bytes));
  pending = [];
  bytes = 0;
}

const ws = new WebSocket(url, { perMessageDeflate: false });
ws.on('open', () => ws.send('{"type":"subscribe","channel":"processing"}'));
ws.on('message', (data) => {
  pending.push(data, nl);
  bytes += data.length + 1;
  if (bytes >= 64 << 10) flush();
  else if (!scheduled) { scheduled = true; setImmediate(flush); }
  if (++seen === n) {
    flush();
    closeSync(fd);
    ws.terminate();
    process.exit(0);
  }
});
ws.on('error', (err) => { console.error(`node client: ${err.message}`); process.exit(1); });
ws.on('close', () => { if (seen < n) { console.error(`node client: closed after ${seen} of ${n}`); process.exit(1); } });
