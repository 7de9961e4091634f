/**
 * Answers written on the client's raw socket: the 101 relayed from a valid backend answer, and
 * a refused upgrade relayed correctly framed (research §2.2 P4: never `Transfer-Encoding:
 * chunked` with a de-chunked body).
 */
import type { IncomingMessage, ClientRequest } from 'node:http';
import type { Socket } from 'node:net';

const NOT_RELAYED = new Set(['connection', 'upgrade', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer']);

/** Write the 101 with the backend's headers in their case and order, hop-by-hop ones regenerated. */
export function write101(socket: Socket, raw: readonly string[], idHeader: string | undefined, backendId: string): void {
  let head = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n';
  for (let i = 0; i < raw.length; i += 2) {
    if (NOT_RELAYED.has(raw[i]!.toLowerCase())) continue;
    head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  if (idHeader !== undefined) head += `${idHeader}: ${backendId}\r\n`;
  socket.write(head + '\r\n');
}

/**
 * Relay a backend's non-101 answer: status, headers and body, then close both connections.
 * The body is sent as Node de-chunked it: with the backend's Content-Length when it had one,
 * otherwise delimited by closing the connection.
 */
export function relayRefusal(res: IncomingMessage, request: ClientRequest, socket: Socket, timeoutMs: number): void {
  const done = (): void => {
    clearTimeout(timer);
    request.destroy();
  };
  const timer = setTimeout(() => {
    done();
    socket.destroy();
  }, timeoutMs);
  timer.unref();
  if (socket.destroyed || !socket.writable) {
    done();
    socket.destroy();
    return;
  }
  const raw = res.rawHeaders;
  const chunked = raw.some((v, i) => i % 2 === 0 && v.toLowerCase() === 'transfer-encoding');
  let head = `HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ''}\r\n`;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    if (NOT_RELAYED.has(k) || (chunked && k === 'content-length')) continue;
    head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  head += 'Connection: close\r\n\r\n';
  socket.write(head);
  res.on('data', (b: Buffer) => {
    if (!socket.write(b)) {
      res.pause();
      socket.once('drain', () => res.resume());
    }
  });
  res.on('end', () => {
    done();
    socket.end();
    // A client that never reads must not pin the socket once the answer is sent.
    const t = setTimeout(() => socket.destroy(), 5000);
    t.unref();
    socket.once('close', () => clearTimeout(t));
  });
  res.on('error', () => {
    done();
    socket.destroy();
  });
  socket.on('close', () => {
    done();
  });
}
