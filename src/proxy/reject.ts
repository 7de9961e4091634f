/**
 * Answer an upgrade on the raw socket with an HTTP error, correctly framed (Content-Length,
 * Connection: close), then close it. Used for every refusal wstap makes itself.
 */
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';

export function rejectUpgrade(
  socket: Duplex,
  status: number,
  message: string,
  extraHeaders: Readonly<Record<string, string>> = {},
): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${message}\n`;
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
  for (const [k, v] of Object.entries(extraHeaders)) head += `${k}: ${v}\r\n`;
  socket.end(`${head}\r\n${body}`);
  // A client that never reads must not pin the socket: end() flushes, destroySoon-like guard.
  const t = setTimeout(() => socket.destroy(), 5000);
  t.unref();
  socket.once('close', () => clearTimeout(t));
}
