/**
 * Benchmark backend: a `ws` 8 server on 127.0.0.1 (port 0), run as its own process by run.mjs.
 *
 *   /                   echo every message back (perMessageDeflate off)
 *   /floodraw?size=N    after a hand-written 101, write pre-built 256 KiB batches of valid
 *                       unmasked N-byte binary frames straight to the socket, as fast as the
 *                       socket drains, until the peer goes away (a cheap generator, so the proxy
 *                       in between is the bottleneck)
 *
 * argv[2]: JSON { maxMs } — the process exits by itself after maxMs whatever happens.
 * Reports { ev: 'listening', port } over IPC.
 */
import http from 'node:http';
import { createHash } from 'node:crypto';
import { WebSocketServer } from 'ws';
import { serverFrame } from './lib.mjs';

const cfg = JSON.parse(process.argv[2] ?? '{}');
const maxMs = cfg.maxMs ?? 600_000;
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});

const batches = new Map();
function batchOf(size) {
  let b = batches.get(size);
  if (b === undefined) {
    const frame = serverFrame(size);
    const n = Math.max(1, Math.floor((256 * 1024) / frame.length));
    b = Buffer.concat(Array.from({ length: n }, () => frame));
    batches.set(size, b);
  }
  return b;
}

function floodRaw(req, socket, size) {
  const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}${GUID}`).digest('base64');
  socket.setNoDelay(true);
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  const batch = batchOf(size);
  let open = true;
  const pump = () => {
    while (open && socket.write(batch));
  };
  socket.on('drain', pump);
  socket.on('data', () => {}); // a close frame or anything else from the client: ignore
  socket.on('error', () => {});
  socket.on('close', () => {
    open = false;
  });
  socket.on('end', () => {
    open = false;
    socket.destroy();
  });
  pump();
}

const server = http.createServer((_req, res) => {
  res.writeHead(426).end();
});
server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/floodraw') {
    floodRaw(req, socket, Math.max(0, Number(url.searchParams.get('size') ?? 64)));
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});
server.on('clientError', (_e, s) => s.destroy());
server.maxConnections = Infinity;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  if (process.send) process.send({ ev: 'listening', port });
  else process.stdout.write(`${port}\n`);
});

setTimeout(() => process.exit(0), maxMs).unref();
process.on('SIGTERM', () => process.exit(0));
process.on('disconnect', () => process.exit(0));
