/**
 * Helpers of the hardening tests (limits, timeouts, origins, TLS): a `wss://` echo backend on
 * the test PKI, a hand-written backend that keeps its side open after a FIN, and small waits.
 */
import { once } from 'node:events';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { closeWsServer } from './backends.js';
import { acceptKey, headEnd, requestKey } from './raw.js';
import { until } from './proxy.js';

export interface TlsEchoBackend {
  readonly url: string;
  /** TCP connections accepted so far (TLS handshakes that failed included). */
  accepted(): number;
  /** WebSocket sessions opened so far. */
  sessions(): number;
  /** Resolves when no TCP connection is left open. */
  drained(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** A `ws` echo server behind `https.createServer` with the given certificate, on 127.0.0.1:0. */
export async function tlsEchoBackend(cert: Buffer, key: Buffer): Promise<TlsEchoBackend> {
  const server = https.createServer({ cert, key });
  const sockets = new Set<Socket>();
  let accepted = 0;
  let sessions = 0;
  server.on('connection', (s: Socket) => {
    accepted++;
    sockets.add(s);
    s.on('error', () => {});
    s.once('close', () => sockets.delete(s));
  });
  // A client that refuses our certificate aborts the TLS handshake: not a test failure.
  server.on('tlsClientError', () => {});
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => {
    sessions++;
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `wss://127.0.0.1:${port}`,
    accepted: () => accepted,
    sessions: () => sessions,
    drained: (timeoutMs = 5000) => until(() => sockets.size === 0, timeoutMs, `TLS backend :${port} connections to close`),
    close: () => closeWsServer(wss, server, sockets),
  };
}

export interface HalfOpenConn {
  readonly socket: Socket;
  /** Bytes received after the request head. */
  received(): Buffer;
  /** Resolves when the bytes received after the head satisfy `pred`. */
  waitFor(pred: (b: Buffer) => boolean): Promise<Buffer>;
  /** The peer's FIN arrived. */
  readonly ended: Promise<void>;
  readonly closed: Promise<void>;
}

export interface HalfOpenBackend {
  readonly url: string;
  /** Connections still open. */
  readonly open: Set<Socket>;
  /** The next connection that got its 101. */
  nextConnection(): Promise<HalfOpenConn>;
  close(): Promise<void>;
}

/**
 * A hand-written WebSocket backend (`net`, `allowHalfOpen: true`): it answers every upgrade with
 * a valid 101 and then does only what the test does with the socket. A FIN from the proxy does
 * not end its side, so it can keep sending after the client went away.
 */
export async function halfOpenBackend(): Promise<HalfOpenBackend> {
  const open = new Set<Socket>();
  const ready: HalfOpenConn[] = [];
  let waiters: ((c: HalfOpenConn) => void)[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    open.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => open.delete(socket));
    let head: Buffer | undefined = Buffer.alloc(0);
    const after: Buffer[] = [];
    const wake: (() => void)[] = [];
    const conn: HalfOpenConn = {
      socket,
      received: () => Buffer.concat(after),
      waitFor: (pred) =>
        new Promise((resolve, reject) => {
          const check = (): boolean => {
            const b = conn.received();
            if (pred(b)) {
              resolve(b);
              return true;
            }
            if (socket.destroyed) {
              reject(new Error(`backend socket closed; got ${b.length} bytes`));
              return true;
            }
            return false;
          };
          if (check()) return;
          const w = (): void => {
            if (check()) wake.splice(wake.indexOf(w), 1);
          };
          wake.push(w);
        }),
      ended: new Promise((r) => socket.once('end', () => r())),
      closed: new Promise((r) => socket.once('close', () => r())),
    };
    socket.once('close', () => [...wake].forEach((w) => w()));
    socket.on('data', (b: Buffer) => {
      if (head !== undefined) {
        head = Buffer.concat([head, b]);
        const end = headEnd(head);
        if (end < 0) return;
        const text = head.subarray(0, end).toString('latin1');
        const rest = head.subarray(end);
        head = undefined;
        socket.write(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(requestKey(text))}\r\n\r\n`,
        );
        if (rest.length > 0) after.push(rest);
        const w = waiters.shift();
        if (w) w(conn);
        else ready.push(conn);
      } else {
        after.push(b);
      }
      [...wake].forEach((w) => w());
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}`,
    open,
    nextConnection: () => {
      const c = ready.shift();
      if (c) return Promise.resolve(c);
      return new Promise((resolve) => waiters.push(resolve));
    },
    close: () =>
      new Promise<void>((resolve) => {
        waiters = [];
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Resolves when `socket` has emitted 'close' (at once if it already has). */
export function socketClosed(socket: Socket): Promise<void> {
  if (socket.closed) return Promise.resolve();
  return once(socket, 'close').then(() => undefined);
}
