/**
 * Raw-socket tools for the proxy's integration tests: a `net` client that speaks bytes (so a
 * test can reset it at any moment, or see exactly what arrived), frames built by hand, HTTP
 * heads parsed by hand, fake `net` backends that answer whatever a test wants, and a seeded
 * PRNG for the churn loops.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net, { type AddressInfo, type Socket } from 'node:net';

export const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** `Sec-WebSocket-Accept` for a key (RFC 6455 §4.2.2). */
export function acceptKey(key: string): string {
  return createHash('sha1').update(key + WS_GUID).digest('base64');
}

export function newKey(): string {
  return randomBytes(16).toString('base64');
}

// ─── HTTP heads ───────────────────────────────────────────────────────────────────────────────

export interface UpgradeRequestOptions {
  readonly method?: string;
  readonly host?: string;
  readonly key?: string;
  readonly version?: string;
  readonly upgrade?: string;
  readonly connection?: string;
  /** Extra header lines, in order, exactly as written. */
  readonly headers?: readonly (readonly [string, string])[];
  /** Lower-case names of the standard lines to leave out (`sec-websocket-key`, …). */
  readonly omit?: readonly string[];
}

/** A WebSocket upgrade request head, byte for byte. */
export function upgradeRequest(path: string, o: UpgradeRequestOptions = {}): { text: string; key: string } {
  const key = o.key ?? newKey();
  const std: [string, string][] = [
    ['Host', o.host ?? 'proxy.test'],
    ['Connection', o.connection ?? 'Upgrade'],
    ['Upgrade', o.upgrade ?? 'websocket'],
    ['Sec-WebSocket-Version', o.version ?? '13'],
    ['Sec-WebSocket-Key', key],
  ];
  const omit = new Set(o.omit ?? []);
  let text = `${o.method ?? 'GET'} ${path} HTTP/1.1\r\n`;
  for (const [k, v] of std) if (!omit.has(k.toLowerCase())) text += `${k}: ${v}\r\n`;
  for (const [k, v] of o.headers ?? []) text += `${k}: ${v}\r\n`;
  return { text: text + '\r\n', key };
}

export interface ParsedHead {
  readonly status: number;
  readonly reason: string;
  /** Header lines in order, names as sent. */
  readonly headers: readonly (readonly [string, string])[];
  /** Raw text of the head (without the blank line). */
  readonly text: string;
  /** Bytes after the head. */
  readonly rest: Buffer;
}

/** Index just past the `\r\n\r\n` ending an HTTP head, or -1. */
export function headEnd(buf: Buffer): number {
  const i = buf.indexOf('\r\n\r\n');
  return i < 0 ? -1 : i + 4;
}

/** Parse a response head (status line + header lines) from the start of `buf`. */
export function parseResponseHead(buf: Buffer): ParsedHead {
  const end = headEnd(buf);
  if (end < 0) throw new Error(`no complete HTTP head in ${JSON.stringify(buf.toString('latin1').slice(0, 200))}`);
  const text = buf.subarray(0, end - 4).toString('latin1');
  const [statusLine, ...lines] = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine ?? '');
  if (!m) throw new Error(`bad status line: ${statusLine}`);
  const headers = lines.map((l) => {
    const c = l.indexOf(':');
    return [l.slice(0, c), l.slice(c + 1).trim()] as const;
  });
  return { status: Number(m[1]), reason: m[2] ?? '', headers, text, rest: buf.subarray(end) };
}

/** Every value of a header (case-insensitive name). */
export function headerValues(h: Pick<ParsedHead, 'headers'>, name: string): string[] {
  const n = name.toLowerCase();
  return h.headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
}

/** Same, over a `rawHeaders` list. */
export function rawValues(raw: readonly string[], name: string): string[] {
  const n = name.toLowerCase();
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === n) out.push(raw[i + 1]!);
  return out;
}

// ─── frames ───────────────────────────────────────────────────────────────────────────────────

export interface FrameOptions {
  readonly fin?: boolean;
  /** RSV bits as a number: 4 = RSV1, 2 = RSV2, 1 = RSV3. */
  readonly rsv?: number;
  /** A 4-byte key (client frames), or null for an unmasked (server) frame. */
  readonly mask?: Buffer | null;
  /** Declared payload length, when it differs from the payload given (a truncated frame). */
  readonly length?: number;
}

export const FIXED_MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

/** One frame, any header. Default: FIN, no RSV, unmasked. */
export function frame(opcode: number, payload: Buffer | string = Buffer.alloc(0), o: FrameOptions = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const len = o.length ?? data.length;
  const mask = o.mask ?? null;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (mask ? 4 : 0));
  head[0] = (o.fin === false ? 0 : 0x80) | (((o.rsv ?? 0) & 7) << 4) | (opcode & 0x0f);
  head[1] = (mask ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(len, 2);
  else if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  if (!mask) return Buffer.concat([head, data]);
  mask.copy(head, 2 + ext);
  const body = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i++) body[i] = data[i]! ^ mask[i & 3]!;
  return Buffer.concat([head, body]);
}

/** A close frame with a code (and reason). */
export function closeFrameOf(code: number, reason = '', mask: Buffer | null = null): Buffer {
  const r = Buffer.from(reason);
  const p = Buffer.alloc(2 + r.length);
  p.writeUInt16BE(code, 0);
  r.copy(p, 2);
  return frame(0x8, p, { mask });
}

export interface DecodedFrame {
  readonly fin: boolean;
  readonly rsv: number;
  readonly opcode: number;
  readonly masked: boolean;
  /** Unmasked payload. */
  readonly payload: Buffer;
}

/** Decode whole frames from `buf`; `rest` is what is left of an incomplete last frame. */
export function decodeFrames(buf: Buffer): { frames: DecodedFrame[]; rest: Buffer } {
  const frames: DecodedFrame[] = [];
  let pos = 0;
  for (;;) {
    if (buf.length - pos < 2) break;
    const b0 = buf[pos]!;
    const b1 = buf[pos + 1]!;
    let len = b1 & 0x7f;
    let at = pos + 2;
    if (len === 126) {
      if (buf.length - at < 2) break;
      len = buf.readUInt16BE(at);
      at += 2;
    } else if (len === 127) {
      if (buf.length - at < 8) break;
      len = Number(buf.readBigUInt64BE(at));
      at += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    const key = masked ? buf.subarray(at, at + 4) : null;
    if (masked) at += 4;
    if (buf.length - at < len) break;
    const payload = Buffer.from(buf.subarray(at, at + len));
    if (key) for (let i = 0; i < len; i++) payload[i] = payload[i]! ^ key[i & 3]!;
    frames.push({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked, payload });
    pos = at + len;
  }
  return { frames, rest: buf.subarray(pos) };
}

// ─── a raw client ─────────────────────────────────────────────────────────────────────────────

/** A `net` client that records every byte it receives and can wait on them. */
export class RawClient {
  readonly chunks: Buffer[] = [];
  readonly closed: Promise<void>;
  #waiters: (() => void)[] = [];
  #isClosed = false;
  error: Error | undefined;

  private constructor(readonly socket: Socket) {
    socket.on('data', (b: Buffer) => {
      this.chunks.push(b);
      this.#wake();
    });
    socket.on('error', (e) => (this.error = e));
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#isClosed = true;
        this.#wake();
        resolve();
      }),
    );
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    const socket = net.connect(port, host);
    const c = new RawClient(socket);
    await once(socket, 'connect');
    socket.setNoDelay(true);
    return c;
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  write(b: Buffer | string): void {
    this.socket.write(b);
  }

  /** Resolves when `pred(received bytes)` holds; rejects if the socket closes first. */
  waitFor(pred: (buf: Buffer) => boolean, what = 'bytes'): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const buf = this.received();
        if (pred(buf)) {
          resolve(buf);
          return true;
        }
        if (this.#isClosed) {
          reject(new Error(`socket closed while waiting for ${what}; got ${JSON.stringify(buf.toString('latin1').slice(0, 300))}`));
          return true;
        }
        return false;
      };
      if (check()) return;
      const w = (): void => {
        if (check()) this.#waiters = this.#waiters.filter((x) => x !== w);
      };
      this.#waiters.push(w);
    });
  }

  /** Wait for a complete response head. */
  async head(): Promise<ParsedHead> {
    return parseResponseHead(await this.waitFor((b) => headEnd(b) >= 0, 'a response head'));
  }

  /** Wait for the peer to close, then parse everything received as one response. */
  async response(): Promise<ParsedHead> {
    await this.closed;
    return parseResponseHead(this.received());
  }

  /** TCP RST (SO_LINGER 0). */
  reset(): void {
    this.socket.resetAndDestroy();
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }
}

/** Send a request head and read the whole answer until the proxy closes the connection. */
export async function rawExchange(port: number, request: string | Buffer): Promise<ParsedHead & { raw: Buffer }> {
  const c = await RawClient.connect(port);
  c.write(request);
  const head = await c.response();
  return { ...head, raw: c.received() };
}

/**
 * Open a WebSocket by hand through `port`: writes the upgrade, waits for the 101 and checks
 * the accept. `rest` in the result are frame bytes that came with the 101.
 */
export async function rawWebSocket(port: number, path = '/', o: UpgradeRequestOptions = {}): Promise<{ client: RawClient; head: ParsedHead; key: string }> {
  const c = await RawClient.connect(port);
  const { text, key } = upgradeRequest(path, o);
  c.write(text);
  const head = await c.head();
  if (head.status !== 101) throw new Error(`expected 101, got ${head.text}`);
  if (headerValues(head, 'sec-websocket-accept')[0] !== acceptKey(key)) throw new Error('bad accept');
  return { client: c, head, key };
}

/** The frames a raw client received after its 101. */
export function framesAfterHead(c: RawClient): { frames: DecodedFrame[]; rest: Buffer } {
  const buf = c.received();
  return decodeFrames(buf.subarray(headEnd(buf)));
}

/** Bytes a raw client received after its 101. */
export function bytesAfterHead(c: RawClient): Buffer {
  const buf = c.received();
  return buf.subarray(headEnd(buf));
}

// ─── fake backends ────────────────────────────────────────────────────────────────────────────

export interface RawConn {
  readonly socket: Socket;
  /** Every byte received on this connection. */
  readonly chunks: Buffer[];
  received(): Buffer;
  readonly closed: Promise<void>;
}

export interface RawBackend {
  readonly server: net.Server;
  readonly port: number;
  readonly url: string;
  /** Every connection accepted, in order. */
  readonly conns: RawConn[];
  /** Connections still open. */
  readonly open: Set<Socket>;
  /** Resolves with the next connection (or the n-th, 1-based, when given). */
  connection(n?: number): Promise<RawConn>;
  close(): Promise<void>;
}

/**
 * A `net` server standing in for a backend. `onHead(conn, head, rest)` is called once the
 * request head is complete; without it the server accepts and never answers (a blackhole).
 */
export async function rawBackend(onHead?: (conn: RawConn, head: string, rest: Buffer) => void): Promise<RawBackend> {
  const conns: RawConn[] = [];
  const open = new Set<Socket>();
  let waiters: { n: number; resolve: (c: RawConn) => void }[] = [];
  const server = net.createServer((socket) => {
    open.add(socket);
    socket.on('error', () => {});
    const chunks: Buffer[] = [];
    const conn: RawConn = {
      socket,
      chunks,
      received: () => Buffer.concat(chunks),
      closed: new Promise((r) => socket.once('close', () => r())),
    };
    socket.once('close', () => open.delete(socket));
    conns.push(conn);
    let answered = false;
    socket.on('data', (b: Buffer) => {
      chunks.push(b);
      if (answered || !onHead) return;
      const all = conn.received();
      const end = headEnd(all);
      if (end < 0) return;
      answered = true;
      onHead(conn, all.subarray(0, end).toString('latin1'), all.subarray(end));
    });
    waiters = waiters.filter((w) => {
      if (conns.length >= w.n) w.resolve(conns[w.n - 1]!);
      return conns.length < w.n;
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `ws://127.0.0.1:${port}`,
    conns,
    open,
    connection(n = conns.length + 1) {
      if (conns.length >= n) return Promise.resolve(conns[n - 1]!);
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The key of a request head written by the proxy. */
export function requestKey(head: string): string {
  const m = /^sec-websocket-key:\s*(\S+)\s*$/im.exec(head);
  if (!m) throw new Error(`no key in ${head}`);
  return m[1]!;
}

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
export async function deadPort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

// ─── seeded randomness ────────────────────────────────────────────────────────────────────────

/** mulberry32: a small seeded PRNG, so a failing churn run can be replayed. */
export class Prng {
  #s: number;
  constructor(readonly seed: number) {
    this.#s = seed >>> 0;
  }
  /** [0, 1) */
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(this.next() * 256);
    return b;
  }
}

/** Resolves with the error code of a TCP connect to `port` on 127.0.0.1 (or 'connected'). */
export async function tcpConnect(port: number): Promise<string> {
  const s = net.connect(port, '127.0.0.1');
  try {
    await once(s, 'connect');
    return 'connected';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'error';
  } finally {
    s.destroy();
  }
}
