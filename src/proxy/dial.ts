/**
 * The backend side of the upgrade: send the client's handshake to one server and wait for a
 * valid 101. Nothing is tunnelled before the 101 has been checked against what the client
 * offered (RFC 6455 §4.1: the client "MUST _Fail the WebSocket Connection_" on a wrong Accept,
 * an extension or subprotocol it did not offer — so must a proxy that speaks for it).
 *
 * The common case costs one `net.connect`/`tls.connect`, one write and a small head parser:
 * `http.request` (an Agent, a ClientRequest, an HTTP parser and an IncomingMessage per dial) was
 * a sizeable share of the proxy's CPU per session. Only an answer that is not a well-formed 101 —
 * a refusal whose body must be relayed correctly framed (SPEC §6), or a head our parser does not
 * take — goes to Node's HTTP client, which is handed the connected socket and the bytes read so
 * far (see {@link adoptResponse}).
 */
import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ClientRequest } from 'node:http';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { Duplex } from 'node:stream';
import { ProxyError, type ErrorCode } from '../errors.js';
import { headerTokens, type ClientHandshake } from './handshake.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Node's own limit for a response head (`http.maxHeaderSize`). */
const MAX_HEAD_BYTES = 16 * 1024;

export interface DialOptions {
  readonly url: URL;
  /** The client's request target (path and query). */
  readonly target: string;
  /** Raw header list for the upstream request (see `upstreamHeaders`). */
  readonly headers: readonly string[];
  readonly handshake: ClientHandshake;
  readonly timeoutMs: number;
  readonly ca?: Buffer;
  readonly insecure?: boolean;
}

export type DialOutcome =
  | {
      readonly kind: 'upgraded';
      readonly socket: Socket;
      readonly head: Buffer;
      readonly rawHeaders: readonly string[];
      /** Negotiated extension names (e.g. `permessage-deflate`). */
      readonly extensions: readonly string[];
    }
  /** The backend answered without upgrading: relay `res` to the client. */
  | { readonly kind: 'refused'; readonly res: IncomingMessage; readonly request: ClientRequest }
  | { readonly kind: 'failed'; readonly error: ProxyError };

export interface Dial {
  readonly outcome: Promise<DialOutcome>;
  /** The client went away: drop the upstream connection now. */
  abort(): void;
}

/** Request target on the backend: the server URL's path prefixed to the client's target. */
export function backendTarget(url: URL, target: string): string {
  const base = url.pathname.endsWith('/') ? url.pathname.slice(0, -1) : url.pathname;
  const t = target.startsWith('/') ? target : `/${target}`;
  const path = base + t;
  return url.search && !t.includes('?') ? path + url.search : path;
}

/** The upgrade request as it goes on the wire: what `http.request` wrote for a raw header list. */
export function requestHead(path: string, headers: readonly string[]): string {
  let head = `GET ${path} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return head + '\r\n';
}

export function dial(o: DialOptions): Dial {
  let settle!: (v: DialOutcome) => void;
  let done = false;
  const outcome = new Promise<DialOutcome>((resolve) => (settle = resolve));

  const secure = o.url.protocol === 'wss:';
  const hostname = o.url.hostname.startsWith('[') ? o.url.hostname.slice(1, -1) : o.url.hostname;
  const port = Number(o.url.port || (secure ? 443 : 80));
  const path = backendTarget(o.url, o.target);
  const sock: Socket = secure
    ? tls.connect({
        host: hostname,
        port,
        rejectUnauthorized: !o.insecure,
        ...(o.ca ? { ca: o.ca } : {}),
        ...(/^[\d.]+$|:/.test(hostname) ? {} : { servername: hostname }),
      })
    : net.connect({ host: hostname, port, noDelay: true });
  // Written now, sent once connected (the socket buffers it meanwhile).
  sock.write(requestHead(path, o.headers), 'latin1');

  let buf: Buffer | null = null;
  /** Our own head parsing is over: the socket goes to the tunnel, to Node's client, or away. */
  const detach = (): void => {
    sock.off('data', onData);
    sock.off('end', onEnd);
    sock.off('close', onEnd);
    buf = null;
  };
  const finish = (v: DialOutcome): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    detach();
    settle(v);
  };
  const fail = (code: ErrorCode, detail?: string, cause?: unknown): void => {
    finish({ kind: 'failed', error: new ProxyError(code, detail, cause === undefined ? undefined : { cause }) });
    sock.destroy();
  };

  const timer = setTimeout(() => fail('backend_timeout', `${o.timeoutMs} ms`), o.timeoutMs);

  const onError = (err: NodeJS.ErrnoException): void => {
    if (done) return;
    fail(err.code === 'ECONNREFUSED' ? 'backend_refused' : 'backend_error', err.code ?? err.message, err);
  };
  // What Node's HTTP client reports for a connection that ends before a complete answer.
  const onEnd = (): void => fail('backend_error', 'ECONNRESET');
  const onData = (chunk: Buffer): void => {
    buf = buf === null ? chunk : Buffer.concat([buf, chunk]);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if ((end < 0 ? buf.length : end + 4) > MAX_HEAD_BYTES) {
        fail('backend_error', 'HPE_HEADER_OVERFLOW');
        return;
      }
      if (end < 0) {
        // A head ended by bare LFs: not ours to judge, Node's parser has the rules.
        if (buf.indexOf('\n\n') >= 0 || buf.indexOf('\n\r\n') >= 0) adopt();
        return;
      }
      const head = parseHead(buf.toString('latin1', 0, end));
      if (head !== undefined && head.status >= 100 && head.status < 200 && head.status !== 101) {
        // An interim answer (100, 103 …): Node's client skips it too.
        buf = buf.subarray(end + 4);
        continue;
      }
      if (head === undefined || head.status !== 101) {
        adopt();
        return;
      }
      const rest = buf.subarray(end + 4);
      const problem = check101(head.status, head.rawHeaders, o.handshake);
      if (problem !== undefined) {
        fail('backend_invalid_response', problem);
        return;
      }
      // Held until the tunnel attaches its listeners and resumes it.
      sock.pause();
      const extensions = headerTokens(head.rawHeaders, 'sec-websocket-extensions').map((e) => e.split(';')[0]!.trim());
      finish({ kind: 'upgraded', socket: sock, head: rest, rawHeaders: head.rawHeaders, extensions });
      return;
    }
  };
  // A refusal, or a head this parser does not take: Node's HTTP client reads it (still under
  // the handshake timeout, and still dropped if the client leaves).
  const adopt = (): void => {
    const bytes = buf!;
    detach();
    try {
      adoptResponse(sock, bytes, path, o.headers, finish);
    } catch (err) {
      /* c8 ignore next 2 */ // the headers came through Node's request parser: they are valid
      fail('backend_error', (err as Error).message, err);
    }
  };
  sock.on('error', onError);
  sock.on('data', onData);
  sock.on('end', onEnd);
  sock.on('close', onEnd);

  return {
    outcome,
    abort() {
      fail('client_closed');
    },
  };
}

interface Head {
  readonly status: number;
  readonly rawHeaders: string[];
}

const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: [^\r\n]*)?$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * A response head (without its final CRLF CRLF), or undefined when it is anything but plain
 * `HTTP/1.x SSS reason` and `name: value` lines (obs-fold, bare LF, a bad name …): those go to
 * Node's parser, which knows every rule.
 */
export function parseHead(text: string): Head | undefined {
  const lines = text.split('\r\n');
  const m = STATUS_LINE.exec(lines[0]!);
  if (m === null) return undefined;
  const rawHeaders: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return undefined;
    const value = line.slice(colon + 1).trim();
    if (/[\0\n\r]/.test(value)) return undefined;
    rawHeaders.push(name, value);
  }
  return { status: Number(m[1]), rawHeaders };
}

/**
 * Hand a connected backend socket, and the answer bytes read from it so far, to Node's HTTP
 * client, which parses the rest (status, headers, a body by Content-Length, chunked or close)
 * exactly as it does for `http.request`. The request it thinks it writes is already on the wire:
 * those bytes are dropped.
 */
function adoptResponse(sock: Socket, bytes: Buffer, path: string, headers: readonly string[], finish: (v: DialOutcome) => void): void {
  sock.pause();
  const wire = new Duplex({
    read() {
      sock.resume();
    },
    write(_chunk, _enc, cb) {
      cb();
    },
    final(cb) {
      cb();
    },
    destroy(err, cb) {
      sock.destroy();
      cb(err);
    },
  });
  wire.push(bytes);
  sock.on('data', (b: Buffer) => {
    if (!wire.push(b)) sock.pause();
  });
  sock.on('end', () => wire.push(null));
  sock.on('error', (err) => wire.destroy(err));
  sock.on('close', () => wire.destroy());

  const request = http.request({ method: 'GET', path, headers: headers as string[], createConnection: () => wire as unknown as Socket });
  request.on('error', (err: NodeJS.ErrnoException) => {
    // After a response (a parse error on bytes past its body) this changes nothing: the
    // refusal is relayed as far as it was read.
    finish({ kind: 'failed', error: new ProxyError('backend_error', err.code ?? err.message, { cause: err }) });
  });
  request.on('upgrade', () => {
    // A 101 whose head only Node's parser takes (obs-fold …): not one we vouch for.
    finish({ kind: 'failed', error: new ProxyError('backend_invalid_response', 'malformed 101 head') });
    request.destroy();
  });
  request.on('response', (res: IncomingMessage) => {
    res.on('error', noop);
    if (res.statusCode === 101 || (res.statusCode !== undefined && res.statusCode < 200)) {
      // A 101 Node did not treat as an upgrade, or an interim answer: not a valid handshake.
      finish({ kind: 'failed', error: new ProxyError('backend_invalid_response', `status ${res.statusCode}`) });
      request.destroy();
      return;
    }
    finish({ kind: 'refused', res, request });
  });
  request.end();
}

function noop(): void {}

/** Why this 101 must not be tunnelled, or undefined when it is valid. */
export function check101(status: number, raw: readonly string[], hs: ClientHandshake): string | undefined {
  if (status !== 101) return `status ${status} is not 101`;
  const upgrade = headerTokens(raw, 'upgrade');
  if (upgrade.length !== 1 || upgrade[0] !== 'websocket') return `Upgrade: ${upgrade.join(', ') || '(none)'}`;
  if (!headerTokens(raw, 'connection').includes('upgrade')) return 'Connection header lacks "upgrade"';
  const accept = values(raw, 'sec-websocket-accept');
  const expected = createHash('sha1').update(hs.key + GUID).digest('base64');
  // "|Sec-WebSocket-Accept| … MUST NOT appear more than once in an HTTP response" (§11.3.3)
  if (accept.length !== 1 || accept[0] !== expected) return 'missing or wrong Sec-WebSocket-Accept';
  const proto = values(raw, 'sec-websocket-protocol');
  if (proto.length > 1) return 'Sec-WebSocket-Protocol appears more than once';
  if (proto.length === 1 && !hs.protocols.includes(proto[0]!.trim())) {
    return `subprotocol "${proto[0]}" was not offered`;
  }
  const ext = values(raw, 'sec-websocket-extensions');
  if (ext.length > 1) return 'Sec-WebSocket-Extensions appears more than once';
  for (const e of headerTokens(raw, 'sec-websocket-extensions')) {
    const name = e.split(';')[0]!.trim();
    if (!hs.extensions.includes(name)) return `extension "${name}" was not offered`;
  }
  return undefined;
}

function values(raw: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!);
  return out;
}
