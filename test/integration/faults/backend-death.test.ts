/**
 * A backend that dies mid-session (research §6 #8; Envoy `UpstreamDisconnect`): by FIN or RST,
 * in the middle of a 10 MB frame or between frames, and a backend process killed outright
 * (SIGKILL of a child `ws` server, idle or mid-frame).
 *
 * Mid-frame the client's TCP is closed: it receives an exact prefix of what the backend sent
 * and never a close frame spliced into the partial frame (a `ws` client reports 1006, and no
 * protocol error). Between frames the client gets a 1014 close frame right after the last whole
 * frame. Either way 1006 is recorded for the backend leg, nothing is thrown, nothing leaks.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { assertNoLeaks, closed, connect, nextMessage, simpleConfig, startProxy, type RunningProxy } from '../../helpers/proxy.js';
import { crashGuard, trackedBackend, type BackendConn, type TrackedBackend } from '../../helpers/backends.js';
import { useLeakCheck } from '../../helpers/proxy-fixture.js';
import { FIXED_MASK, RawClient, bytesAfterHead, frame, framesAfterHead } from '../../helpers/raw.js';
import { FrameReader, childServer, killChildServers, serverHeader, type ChildServer } from '../../helpers/faults.js';

crashGuard();

let p: RunningProxy | undefined;
let backend: TrackedBackend | undefined;
const { rawClients, wsClients, rawWs } = useLeakCheck(async () => {
  await p?.close();
  await backend?.close();
  await killChildServers();
  p = backend = undefined;
});

const MB = 1024 * 1024;
const BIG = 10 * MB;

/** The first `n` payload bytes of the big frame: a pattern a spliced or lost byte would break. */
function pattern(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b;
}

/** Resolves once the proxy has relayed `n` more bytes from the backend (hub events, no polling). */
function relayedFromBackend(rp: RunningProxy, n: number): Promise<void> {
  return new Promise((resolve) => {
    let got = 0;
    const off = rp.hub.subscribe({
      bytes: (_s, dir, k) => {
        if (dir !== 'backend_to_client') return;
        got += k;
        if (got >= n) {
          off();
          resolve();
        }
      },
    });
  });
}

/** Resolves once `c` has received `n` bytes after its 101. */
function receivedAtLeast(c: RawClient, n: number): Promise<Buffer> {
  return c.waitFor(() => bytesAfterHead(c).length >= n, `${n} bytes`);
}

describe('a backend that dies in the middle of a 10 MB frame', () => {
  for (const how of ['FIN', 'RST'] as const) {
    it(`by ${how}: the client TCP closes after an exact prefix of the frame, no close frame spliced in; 1006 for the backend`, async () => {
      const sent = Buffer.concat([serverHeader(0x2, BIG), pattern(4 * MB)]);
      const conns: BackendConn[] = [];
      backend = await trackedBackend({
        onConnection: (conn) => {
          conns.push(conn);
          conn.ws.once('message', () => {
            conn.socket.write(sent, () => {
              // FIN: whatever is queued still goes out first. RST: only once the client has it all.
              if (how === 'FIN') conn.socket.end();
            });
          });
        },
      });
      p = await startProxy(simpleConfig([backend.url]));
      const c = await rawWs(p.port);
      c.write(frame(0x1, 'go', { mask: FIXED_MASK }));
      if (how === 'RST') {
        await receivedAtLeast(c, sent.length);
        conns[0]!.socket.resetAndDestroy();
      }
      await c.closed;
      const got = bytesAfterHead(c);
      expect(got.length).toBeGreaterThan(10);
      expect(got.length).toBeLessThanOrEqual(sent.length);
      expect(got.equals(sent.subarray(0, got.length))).toBe(true);
      if (how === 'RST') expect(got.length).toBe(sent.length);
      // Read as frames: the stream ends inside the big frame, and no close frame came.
      const reader = new FrameReader();
      reader.push(got);
      expect(reader.midFrame).toBe(true);
      expect(reader.closeCodes).toEqual([]);
      await p.rec.closes(1);
      expect(p.rec.closed[0]!.e).toMatchObject({ code: 1006, initiator: 'backend' });

      // A ws client sees an abnormal closure (1006), not a protocol error.
      const ws = await connect(p.url);
      wsClients.add(ws);
      let error: Error | undefined;
      ws.on('error', (e) => (error = e));
      const cl = closed(ws);
      const relayed = relayedFromBackend(p, sent.length);
      ws.send('go');
      if (how === 'RST') {
        // ws reads the partial frame without telling; wait until the proxy relayed it all.
        await relayed;
        conns[1]!.socket.resetAndDestroy();
      }
      expect((await cl).code).toBe(1006);
      expect(error).toBeUndefined();
      await p.rec.closes(2);
      expect(p.rec.closed[1]!.e).toMatchObject({ code: 1006, initiator: 'backend' });
      await assertNoLeaks(p);
      await backend.drained();
    });
  }
});

describe('a backend that resets between frames', () => {
  it('the client gets the last whole frame, then 1014 at the boundary, then the TCP close; 1006 for the backend', async () => {
    const conns: BackendConn[] = [];
    backend = await trackedBackend({
      onConnection: (conn) => {
        conns.push(conn);
        conn.ws.once('message', () => conn.ws.send(Buffer.alloc(300_000, 9)));
      },
    });
    p = await startProxy(simpleConfig([backend.url]));
    const c = await rawWs(p.port);
    c.write(frame(0x1, 'go', { mask: FIXED_MASK }));
    await c.waitFor(() => framesAfterHead(c).frames.length === 1, 'the whole frame');
    conns[0]!.socket.resetAndDestroy();
    await c.closed;
    const { frames, rest } = framesAfterHead(c);
    expect(rest.length).toBe(0);
    expect(frames.map((f) => [f.opcode, f.masked, f.payload.length])).toEqual([
      [0x2, false, 300_000],
      [0x8, false, frames[1]?.payload.length ?? -1],
    ]);
    expect(frames[1]!.payload.readUInt16BE(0)).toBe(1014);
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1006, initiator: 'backend' });
    await assertNoLeaks(p);
    await backend.drained();
  });
});

/** A ws echo server in a child process; on the message "big" it starts a 10 MB frame, sends 3 MB of it and prints "partial". */
const CHILD = `
import { WebSocketServer } from 'ws';
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
wss.on('listening', () => process.stdout.write(wss.address().port + '\\n'));
wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (d, bin) => {
    if (String(d) !== 'big') return ws.send(d, { binary: bin });
    const head = Buffer.alloc(10);
    head[0] = 0x82;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(${BIG}), 2);
    const part = Buffer.allocUnsafe(${3 * MB});
    for (let i = 0; i < part.length; i++) part[i] = i % 251;
    ws._socket.write(head);
    ws._socket.write(part, () => process.stdout.write('partial\\n'));
  });
});
`;

describe('a backend process killed (SIGKILL)', () => {
  let child: ChildServer | undefined;
  afterEach(async () => {
    await child?.kill();
    child = undefined;
  });

  it('with the session idle between messages: the ws client gets 1014; 1006 for the backend', async () => {
    child = await childServer(CHILD);
    p = await startProxy(simpleConfig([child.url]));
    const ws = await connect(p.url);
    wsClients.add(ws);
    ws.send('hello');
    expect((await nextMessage(ws)).data.toString()).toBe('hello');
    const cl = closed(ws);
    await child.kill();
    expect((await cl).code).toBe(1014);
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1006, initiator: 'backend' });
    await assertNoLeaks(p);
  });

  it('in the middle of a 10 MB frame: the client TCP closes after the exact 3 MB prefix, no close frame; 1006 for the backend', async () => {
    child = await childServer(CHILD);
    p = await startProxy(simpleConfig([child.url]));
    const c = await rawWs(p.port);
    c.write(frame(0x1, 'big', { mask: FIXED_MASK }));
    expect(await child.nextLine()).toBe('partial');
    const expected = Buffer.concat([serverHeader(0x2, BIG), pattern(3 * MB)]);
    await receivedAtLeast(c, expected.length);
    await child.kill();
    await c.closed;
    const got = bytesAfterHead(c);
    expect(got.length).toBe(expected.length);
    expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(expected).digest('hex'));
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1006, initiator: 'backend' });

    // The same with a ws client, on a fresh backend process: 1006, no protocol error.
    await assertNoLeaks(p);
    await p.close();
    child = await childServer(CHILD);
    p = await startProxy(simpleConfig([child.url]));
    const ws = await connect(p.url);
    wsClients.add(ws);
    let error: Error | undefined;
    ws.on('error', (e) => (error = e));
    const cl = closed(ws);
    const relayed = relayedFromBackend(p, expected.length);
    ws.send('big');
    expect(await child.nextLine()).toBe('partial');
    await relayed;
    await child.kill();
    expect((await cl).code).toBe(1006);
    expect(error).toBeUndefined();
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1006, initiator: 'backend' });
    await assertNoLeaks(p);
  });
});
