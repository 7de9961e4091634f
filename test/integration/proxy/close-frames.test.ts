/**
 * Close frames are the peers' business: wstap passes every close a peer sends (even a second
 * one), and keeps the answers to its own closes to itself.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { acceptKey, closeFrameOf, decodeFrames, rawBackend, rawWebSocket, requestKey, FIXED_MASK, type RawBackend, type RawClient } from '../../helpers/raw.js';
import { assertNoLeaks, simpleConfig, startProxy, until, type RunningProxy } from '../../helpers/proxy.js';

let p: RunningProxy | undefined;
let backend: RawBackend | undefined;
let client: RawClient | undefined;

afterEach(async () => {
  client?.socket.destroy();
  await p?.close();
  await backend?.close();
  p = backend = client = undefined;
});

/** A raw backend that completes the handshake and then records what it receives. */
function accepting(): Promise<RawBackend> {
  return rawBackend((conn, head) => {
    conn.socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(requestKey(head))}\r\n\r\n`);
  });
}

function framesAfterHead(buf: Buffer): ReturnType<typeof decodeFrames>['frames'] {
  const end = buf.indexOf('\r\n\r\n');
  return decodeFrames(buf.subarray(end + 4)).frames;
}

describe('close frames through wstap', () => {
  it('passes a peer\'s second close frame, like a direct connection would', async () => {
    backend = await accepting();
    p = await startProxy(simpleConfig([backend.url]));
    ({ client } = await rawWebSocket(p.port));
    const conn = await backend.connection(1);
    client.write(Buffer.concat([closeFrameOf(1000, 'one', FIXED_MASK), closeFrameOf(1001, 'two', FIXED_MASK)]));
    await until(() => framesAfterHead(conn.received()).filter((f) => f.opcode === 8).length === 2, 5000, 'two close frames at the backend');
    const closes = framesAfterHead(conn.received()).filter((f) => f.opcode === 8);
    expect(closes.map((f) => f.payload.readUInt16BE(0))).toEqual([1000, 1001]);
    conn.socket.end();
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1000, initiator: 'client' });
    await assertNoLeaks(p);
  });

  it('keeps the backend\'s answer to wstap\'s own close away from a client that went away', async () => {
    backend = await accepting();
    p = await startProxy(simpleConfig([backend.url]));
    ({ client } = await rawWebSocket(p.port));
    const conn = await backend.connection(1);
    client.socket.end(); // FIN without a close frame: the client leg dropped
    await until(() => framesAfterHead(conn.received()).some((f) => f.opcode === 8), 5000, "wstap's 1001 at the backend");
    const ours = framesAfterHead(conn.received()).find((f) => f.opcode === 8)!;
    expect(ours.payload.readUInt16BE(0)).toBe(1001);
    // The backend answers the close, as a server must; the client must not receive it.
    conn.socket.write(closeFrameOf(1001, 'bye'));
    conn.socket.end();
    await client.closed;
    const toClient = framesAfterHead(client.received());
    expect(toClient.filter((f) => f.opcode === 8).map((f) => [f.payload.readUInt16BE(0), f.payload.subarray(2).toString()])).toEqual([]);
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1006, initiator: 'client' });
    await assertNoLeaks(p);
  });
});
