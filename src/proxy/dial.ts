/**
 * The backend side of the upgrade: send the client's handshake to one server and wait for a
 * valid 101. Nothing is tunnelled before the 101 has been checked against what the client
 * offered (RFC 6455 §4.1: the client "MUST _Fail the WebSocket Connection_" on a wrong Accept,
 * an extension or subprotocol it did not offer — so must a proxy that speaks for it).
 */
import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ClientRequest } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { ProxyError } from '../errors.js';
import { headerTokens, type ClientHandshake } from './handshake.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

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

export function dial(o: DialOptions): Dial {
  let settle!: (v: DialOutcome) => void;
  let done = false;
  const outcome = new Promise<DialOutcome>((resolve) => (settle = resolve));
  const finish = (v: DialOutcome): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    settle(v);
  };

  const secure = o.url.protocol === 'wss:';
  const hostname = o.url.hostname.startsWith('[') ? o.url.hostname.slice(1, -1) : o.url.hostname;
  const options: https.RequestOptions = {
    host: hostname,
    port: o.url.port || (secure ? 443 : 80),
    method: 'GET',
    path: backendTarget(o.url, o.target),
    headers: o.headers as string[],
    setHost: o.handshake.host === undefined,
    agent: false,
  };
  if (secure) {
    options.rejectUnauthorized = !o.insecure;
    if (o.ca) options.ca = o.ca;
    options.servername = /^[\d.]+$|:/.test(hostname) ? undefined : hostname;
  }
  const req = (secure ? https : http).request(options);

  const timer = setTimeout(() => {
    finish({ kind: 'failed', error: new ProxyError('backend_timeout', `${o.timeoutMs} ms`) });
    req.destroy();
  }, o.timeoutMs);

  req.on('error', (err: NodeJS.ErrnoException) => {
    const code = err.code === 'ECONNREFUSED' ? 'backend_refused' : 'backend_error';
    finish({ kind: 'failed', error: new ProxyError(code, err.code ?? err.message, { cause: err }) });
  });

  req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', noop); // replaced by the tunnel's handler; never unhandled
    if (done) {
      socket.destroy();
      return;
    }
    const problem = check101(res, o.handshake);
    if (problem !== undefined) {
      socket.destroy();
      finish({ kind: 'failed', error: new ProxyError('backend_invalid_response', problem) });
      return;
    }
    const extensions = headerTokens(res.rawHeaders, 'sec-websocket-extensions').map((e) => e.split(';')[0]!.trim());
    finish({ kind: 'upgraded', socket, head, rawHeaders: res.rawHeaders, extensions });
  });

  req.on('response', (res: IncomingMessage) => {
    res.on('error', noop);
    if (done) {
      req.destroy();
      return;
    }
    if (res.statusCode === 101 || (res.statusCode !== undefined && res.statusCode < 200)) {
      // A 101 Node did not treat as an upgrade, or an interim answer: not a valid handshake.
      req.destroy();
      finish({ kind: 'failed', error: new ProxyError('backend_invalid_response', `status ${res.statusCode}`) });
      return;
    }
    finish({ kind: 'refused', res, request: req });
  });

  req.end();
  return {
    outcome,
    abort() {
      finish({ kind: 'failed', error: new ProxyError('client_closed') });
      req.destroy();
    },
  };
}

function noop(): void {}

/** Why this 101 must not be tunnelled, or undefined when it is valid. */
export function check101(res: IncomingMessage, hs: ClientHandshake): string | undefined {
  const raw = res.rawHeaders;
  if (res.statusCode !== 101) return `status ${res.statusCode} is not 101`;
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
