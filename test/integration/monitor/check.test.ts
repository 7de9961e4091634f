/**
 * `wstap check` against real servers: `ws`, python3-websockets, a plain HTTP server and a TLS
 * server, every failure mode with its exact error, and no socket or timer left behind.
 */
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { checkCommand } from '../../../src/commands/check.js';
import { UsageError } from '../../../src/commands/io.js';
import { runCheck, type CheckResult } from '../../../src/monitor/check.js';
import { captureIO } from './captured-io.js';
import { freePort, pythonServer, refusingServer, tlsWsServer, wsServer, useServers } from './servers.js';

const { keep } = useServers();

async function checkJson(argv: string[]): Promise<{ code: number; result: CheckResult; stderr: string }> {
  const io = captureIO();
  const code = await checkCommand([...argv, '--json'], io);
  return { code, result: JSON.parse(io.out()) as CheckResult, stderr: io.err() };
}

describe('wstap check: healthy servers', () => {
  it('passes against a ws echo server with every result field present and sane', async () => {
    const s = keep(await wsServer());
    const { code, result } = await checkJson([s.url]);
    expect(code).toBe(0);
    expect(Object.keys(result).sort()).toEqual(
      ['closeCode', 'connected', 'connectionTimeMs', 'error', 'healthy', 'messageLatencyMs', 'messageReceived', 'pingLatencyMs', 'totalTimeMs', 'url'].sort(),
    );
    expect(result).toMatchObject({ url: s.url, healthy: true, connected: true, closeCode: 1000, error: null, messageReceived: false, messageLatencyMs: null });
    expect(result.connectionTimeMs).toBeGreaterThanOrEqual(0);
    expect(result.pingLatencyMs).toBeGreaterThanOrEqual(0);
    expect(result.totalTimeMs).toBeGreaterThanOrEqual(result.connectionTimeMs as number);
    expect(result.totalTimeMs).toBeLessThan(2000);
  });

  it('sends, waits for the expected reply and skips the greeting', async () => {
    const s = keep(await wsServer());
    const { code, result } = await checkJson([s.url, '--send', '{"type":"ping"}', '--expect', '"type":"pong"']);
    expect(code).toBe(0);
    expect(result.messageReceived).toBe(true);
    expect(result.messageLatencyMs).toBeGreaterThanOrEqual(0);
  });

  it('passes against python3-websockets with send and expect', async () => {
    const s = keep(await pythonServer('echo', 'py-1'));
    const { code, result } = await checkJson([s.url, '--send', 'hello there', '--expect', 'there']);
    expect(result.error).toBeNull();
    expect(code).toBe(0);
    expect(result).toMatchObject({ healthy: true, messageReceived: true, closeCode: 1000 });
  });

  it('accepts a greeting without --send when --expect matches it', async () => {
    const s = keep(await pythonServer('echo', 'py-7'));
    const { code, result } = await checkJson([s.url, '--expect', '"backend":"py-7"']);
    expect(code).toBe(0);
    expect(result.messageReceived).toBe(true);
  });

  it('offers subprotocols and sends headers', async () => {
    let seen: { token?: string; protocol?: string } = {};
    const s = keep(
      await wsServer(
        (ws, req) => {
          seen = { token: req.headers['x-token'] as string, protocol: ws.protocol };
        },
        { handleProtocols: (offered) => (offered.has('chat.v2') ? 'chat.v2' : false) },
      ),
    );
    const { code } = await checkJson([s.url, '--subprotocol', 'chat.v1', '--subprotocol', 'chat.v2', '--header', 'X-Token: s3cret']);
    expect(code).toBe(0);
    expect(seen).toEqual({ token: 's3cret', protocol: 'chat.v2' });
  });

  it('prints a human summary by default', async () => {
    const s = keep(await wsServer());
    const io = captureIO();
    expect(await checkCommand([s.url], io)).toBe(0);
    expect(io.out()).toMatch(/^healthy {2}ws:\/\/127\.0\.0\.1:\d+\/\n {2}connected in [\d.]+ ms, ping [\d.]+ ms, close 1000, total [\d.]+ ms\n$/);
  });
});

describe('wstap check: failures name their cause', () => {
  it('a refused port: exit 1, ECONNREFUSED with the address', async () => {
    const port = await freePort();
    const { code, result } = await checkJson([`ws://127.0.0.1:${port}/`]);
    expect(code).toBe(1);
    expect(result).toMatchObject({ healthy: false, connected: false, connectionTimeMs: null, closeCode: null });
    expect(result.error).toBe(`connection refused (ECONNREFUSED 127.0.0.1:${port})`);
  });

  it.each(['ws', 'python'])('a reply that never matches (%s): bounded by --timeout 500', async (kind) => {
    const s = keep(kind === 'ws' ? await wsServer() : await pythonServer('echo'));
    const { code, result } = await checkJson([s.url, '--send', 'hi', '--expect', 'never-there', '--timeout', '500']);
    expect(code).toBe(1);
    expect(result.error).toMatch(/^timed out after 500 ms waiting for a message containing "never-there" \(1 other message received; last: hi\)$/);
    expect(result.messageReceived).toBe(false);
    expect(result.totalTimeMs).toBeGreaterThanOrEqual(450);
    expect(result.totalTimeMs).toBeLessThan(1500);
  });

  it('python server closing with 4002 when 1000 is expected: names both codes', async () => {
    const s = keep(await pythonServer('close', '4002', 'bye'));
    const { code, result } = await checkJson([s.url]);
    expect(code).toBe(1);
    expect(result.closeCode).toBe(4002);
    expect(result.error).toMatch(/^closed with 4002 \(bye\) but 1000 was expected \(the server closed first, while waiting for a pong\)$/);
  });

  it('the same server passes with --expect-close 4002', async () => {
    const s = keep(await pythonServer('close', '4002', 'bye'));
    const { code, result } = await checkJson([s.url, '--expect-close', '4002']);
    expect(result.error).toBeNull();
    expect(code).toBe(0);
  });

  it('ws server closing with 4002 after a message', async () => {
    const s = keep(await wsServer((ws) => ws.on('message', () => ws.close(4002, 'kicked'))));
    const { code, result } = await checkJson([s.url, '--send', 'x']);
    expect(code).toBe(1);
    expect(result.error).toBe('closed with 4002 (kicked) but 1000 was expected (the server closed first, while waiting for a reply)');
  });

  it('a server answering our close with another code', async () => {
    // ws echoes the client's code; answer with 4001 instead by closing first on the close frame.
    const s = keep(await wsServer((ws) => ws.on('ping', () => setImmediate(() => ws.close(4001)))));
    const { result } = await checkJson([s.url]);
    expect(result.healthy).toBe(false);
    expect(result.error).toMatch(/closed with 4001 but 1000 was expected/);
  });

  it('an HTTP 403 instead of 101', async () => {
    const s = keep(await refusingServer(403, 'Forbidden'));
    const { code, result } = await checkJson([s.url]);
    expect(code).toBe(1);
    expect(result.error).toBe('unexpected HTTP 403 instead of 101 (Forbidden)');
  });

  it('a handshake that never completes: bounded by the timeout', async () => {
    const sockets = new Set<Socket>();
    // Reads the request and never answers (resume() so the client's FIN is seen and the socket ends).
    const tcp: Server = createServer((sock) => sockets.add(sock.resume())).listen(0, '127.0.0.1');
    await once(tcp, 'listening');
    keep({ url: '', port: 0, close: () => new Promise((r) => { sockets.forEach((x) => x.destroy()); tcp.close(() => r()); }) });
    const port = (tcp.address() as AddressInfo).port;
    const { code, result } = await checkJson([`ws://127.0.0.1:${port}/`, '--timeout', '300']);
    expect(code).toBe(1);
    expect(result.error).toBe('timed out after 300 ms waiting for the handshake (101 Switching Protocols)');
  });

  it('a connection dropped without a close frame', async () => {
    const s = keep(await wsServer((ws) => ws.on('message', () => ws.terminate())));
    const { result } = await checkJson([s.url, '--send', 'x']);
    expect(result.error).toBe('the connection dropped without a close frame (1006) while waiting for a reply');
    expect(result.closeCode).toBe(1006);
  });

  it('an expected close code does not excuse a missing expected message', async () => {
    const s = keep(await pythonServer('close', '1000'));
    const { code, result } = await checkJson([s.url, '--expect', 'welcome']);
    expect(code).toBe(1);
    expect(result.closeCode).toBe(1000);
    expect(result.error).toMatch(/the server closed the connection with 1000/);
  });

  it('a subprotocol the server does not accept', async () => {
    const s = keep(await wsServer(undefined, { handleProtocols: () => false }));
    const { result } = await checkJson([s.url, '--subprotocol', 'chat.v9']);
    expect(result.error).toBe('invalid handshake response: Server sent no subprotocol');
  });

  it('a self-signed certificate: TLS error with its cause, healthy with --insecure', async () => {
    const s = keep(await tlsWsServer());
    const strict = await checkJson([s.url]);
    expect(strict.code).toBe(1);
    expect(strict.result.error).toBe('TLS certificate rejected: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)');
    const io = captureIO();
    expect(await checkCommand([s.url], io)).toBe(1);
    expect(io.out()).toContain('hint: --insecure');
    const insecure = await checkJson([s.url, '--insecure']);
    expect(insecure.result.error).toBeNull();
    expect(insecure.code).toBe(0);
  });

  it('wss:// against a plain ws:// server', async () => {
    const s = keep(await wsServer());
    const { result } = await checkJson([s.url.replace('ws:', 'wss:')]);
    expect(result.error).toMatch(/^TLS handshake failed: .*wrong version number.* — is the server plain ws:\/\/ rather than wss:\/\/\?$/);
  });

  it('an aborted check releases everything', async () => {
    const s = keep(await wsServer(() => {}));
    const ac = new AbortController();
    const p = runCheck(s.url, { send: 'x', signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    const r = await p;
    expect(r.error).toBe('aborted while waiting for a reply');
  });
});

describe('wstap check: usage errors', () => {
  it.each([
    [[], /a URL is required/],
    [['not a url'], /invalid URL "not a url"/],
    [['http://127.0.0.1:1/'], /use ws:\/\/127\.0\.0\.1:1\//],
    [['ftp://x/'], /unsupported URL scheme "ftp:"/],
    [['ws://a/', 'ws://b/'], /expected one URL, got 2/],
    [['ws://127.0.0.1:1/', '--timeout', 'soon'], /--timeout must be a whole number, got "soon"/],
    [['ws://127.0.0.1:1/', '--timeout', '0'], /--timeout must be between 1 and/],
    [['ws://127.0.0.1:1/', '--expect-close', '999'], /--expect-close must be between 1000 and 4999, got 999/],
    [['ws://127.0.0.1:1/', '--header', 'no-colon'], /--header "no-colon" is not "Name: value"/],
    [['ws://127.0.0.1:1/', '--subprotocol', 'a b'], /not a valid subprotocol name/],
  ])('%j', async (argv, message) => {
    await expect(checkCommand(argv, captureIO())).rejects.toThrow(UsageError);
    await expect(checkCommand(argv, captureIO())).rejects.toThrow(message);
  });

  it('an unknown option is a parse error (the CLI maps it to exit 2)', async () => {
    await expect(checkCommand(['ws://127.0.0.1:1/', '--frobnicate'], captureIO())).rejects.toMatchObject({ code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' });
  });
});
