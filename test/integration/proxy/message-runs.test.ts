/**
 * The tunnel reports equal consecutive messages of one read as one `message` event with a
 * count (see `run` in src/proxy/tunnel.ts). Whatever the batching, observers must see every
 * message, in order, with its own type and size.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { assertNoLeaks, simpleConfig, startProxy, type RunningProxy } from '../../helpers/proxy.js';
import { acceptKey, decodeFrames, frame, framesAfterHead, rawBackend, rawWebSocket, requestKey, type RawBackend, type RawConn } from '../../helpers/raw.js';

let p: RunningProxy | undefined;
let backend: RawBackend | undefined;

afterEach(async () => {
  await p?.close();
  await backend?.close();
  p = backend = undefined;
});

describe('message runs', () => {
  it('a read of many frames: every message counted once, in order, in fewer events than messages', async () => {
    const bin = (n: number): Buffer => frame(2, Buffer.alloc(n, 1));
    const txt = (n: number): Buffer => frame(1, 'x'.repeat(n));
    // [frame, the message it completes (or null)]
    const plan: [Buffer, { type: string; size: number } | null][] = [
      ...Array.from({ length: 5 }, () => [bin(64), { type: 'binary', size: 64 }] as [Buffer, { type: string; size: number }]),
      [txt(64), { type: 'text', size: 64 }],
      [txt(64), { type: 'text', size: 64 }],
      [bin(10), { type: 'binary', size: 10 }],
      [frame(9, 'app ping'), null],
      [bin(64), { type: 'binary', size: 64 }],
      [bin(64), { type: 'binary', size: 64 }],
      [frame(2, 'ab', { fin: false }), null],
      [frame(0, 'cde'), { type: 'binary', size: 5 }],
      [bin(300), { type: 'binary', size: 300 }],
      [bin(64), { type: 'binary', size: 64 }],
    ];
    let backendConn: RawConn | undefined;
    backend = await rawBackend((conn, head) => {
      backendConn = conn;
      conn.socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(requestKey(head))}\r\n\r\n`);
    });
    p = await startProxy(simpleConfig([backend.url]));
    const calls: number[] = [];
    p.hub.subscribe({ message: (_s, _d, _t, _size, _at, count) => void calls.push(count ?? 1) });
    const { client } = await rawWebSocket(p.port);
    // Once the 101 has reached the client (the tunnel runs): all frames in one write, read in one go.
    backendConn!.socket.write(Buffer.concat(plan.map(([f]) => f)));
    await client.waitFor(() => framesAfterHead(client).frames.length === plan.length, 'every frame');
    expect(framesAfterHead(client).frames.map((f) => f.payload.length)).toEqual(plan.map(([f]) => decodeFrames(f).frames[0]!.payload.length));

    const want = plan.flatMap(([, m]) => (m ? [{ dir: 'backend_to_client', ...m }] : []));
    expect(p.rec.messages).toEqual(want);
    expect(calls.reduce((a, b) => a + b, 0)).toBe(want.length);
    // One read: the five 64-byte binaries are one event, so are the two texts and the two binaries.
    expect(calls.length).toBeLessThan(want.length);
    expect(calls.slice(0, 3)).toEqual([5, 2, 1]);
    client.socket.destroy();
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e.messagesB2C).toBe(want.length);
    await assertNoLeaks(p);
  });
});
