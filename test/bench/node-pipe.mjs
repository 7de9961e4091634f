/**
 * The `node-pipe` bench target: a plain Node WebSocket passthrough (the research's node-mini,
 * research/performance.md §2), to show how much of wstap's cost any Node relay pays.
 *
 * An http server takes the upgrade, opens a TCP connection to the backend, writes the client's
 * request head to it as it came (raw header list), and from then on pipes bytes both ways with
 * `stream.pipe`: the backend's 101 reaches the client as bytes like everything after it. No frame
 * parsing, no validation of the 101, no metrics, no timers; its closures hold only the two
 * sockets. It is the ordinary way to write a relay in Node, not the cheapest: each read
 * allocates a buffer and goes through Node's stream machinery (wstap reads into reused buffers).
 * Not a proxy to use: a measuring stick.
 *
 * argv[2]: JSON { port, backendPort, maxMs } — listens on 127.0.0.1:port, exits by itself
 * after maxMs whatever happens (or on SIGTERM).
 */
import http from 'node:http';
import net from 'node:net';

const cfg = JSON.parse(process.argv[2] ?? '{}');
const maxMs = cfg.maxMs ?? 3_600_000;

function onUpgrade(req, client, head) {
  let text = `${req.method} ${req.url} HTTP/1.1\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
  const backend = net.connect({ port: cfg.backendPort, host: '127.0.0.1', noDelay: true });
  backend.write(text + '\r\n');
  if (head.length > 0) backend.write(head);
  client.setNoDelay(true);
  const kill = () => {
    client.destroy();
    backend.destroy();
  };
  client.on('error', kill);
  backend.on('error', kill);
  client.pipe(backend);
  backend.pipe(client);
}

const server = http.createServer((req, res) => {
  res.writeHead(426, { connection: 'close' });
  res.end();
});
server.on('upgrade', onUpgrade);
server.listen(cfg.port, '127.0.0.1');
setTimeout(() => process.exit(0), maxMs).unref();
process.on('SIGTERM', () => process.exit(0));
