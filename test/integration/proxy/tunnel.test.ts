import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { assertNoLeaks, closed, connect, echoBackend, nextMessage, simpleConfig, startProxy, type Backend, type RunningProxy } from '../../helpers/proxy.js';

let backend: Backend;
let p: RunningProxy;

afterEach(async () => {
  await p?.close();
  await backend?.close();
});

describe('tunnel through wstap', () => {
  it('echoes text and binary unchanged and counts each message once', async () => {
    backend = await echoBackend();
    p = await startProxy(simpleConfig([backend.url]));
    const ws = await connect(p.url + '/chat');
    ws.send('hello');
    const m1 = await nextMessage(ws);
    expect(m1.isBinary).toBe(false);
    expect(m1.data.toString()).toBe('hello');
    ws.send(Buffer.from([1, 2, 3]));
    const m2 = await nextMessage(ws);
    expect(m2.isBinary).toBe(true);
    expect([...m2.data]).toEqual([1, 2, 3]);
    ws.close(1000, 'bye');
    expect(await closed(ws)).toEqual({ code: 1000, reason: 'bye' });
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1000, initiator: 'client', messagesC2B: 2, messagesB2C: 2 });
    expect(p.rec.messages).toEqual([
      { dir: 'client_to_backend', type: 'text', size: 5 },
      { dir: 'backend_to_client', type: 'text', size: 5 },
      { dir: 'client_to_backend', type: 'binary', size: 3 },
      { dir: 'backend_to_client', type: 'binary', size: 3 },
    ]);
    await assertNoLeaks(p, [backend]);
  });

  it('relays an 8 MiB message and a fragmented message', async () => {
    backend = await echoBackend({ maxPayload: 64 * 1024 * 1024 });
    p = await startProxy(simpleConfig([backend.url]));
    const ws = await connect(p.url);
    const big = Buffer.alloc(8 * 1024 * 1024, 7);
    ws.send(big);
    const got = await nextMessage(ws);
    expect(got.data.equals(big)).toBe(true);
    ws.send('ab', { fin: false });
    ws.send('cd', { fin: true });
    expect((await nextMessage(ws)).data.toString()).toBe('abcd');
    ws.close();
    await closed(ws);
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e.messagesC2B).toBe(2);
    await assertNoLeaks(p, [backend]);
  });

  it('backend close code and reason reach the client; initiator is backend', async () => {
    backend = await echoBackend({}, (ws) => ws.on('message', () => ws.close(4002, 'backend says no')));
    p = await startProxy(simpleConfig([backend.url]));
    const ws = await connect(p.url);
    ws.send('x');
    expect(await closed(ws)).toEqual({ code: 4002, reason: 'backend says no' });
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 4002, initiator: 'backend' });
    await assertNoLeaks(p, [backend]);
  });

  it('backend drop between frames: client gets 1014, 1006 recorded for the backend', async () => {
    backend = await echoBackend({}, (ws) => ws.on('message', () => (ws as unknown as { _socket: import('node:net').Socket })._socket.destroy()));
    p = await startProxy(simpleConfig([backend.url]));
    const ws = await connect(p.url);
    ws.send('x');
    const c = await closed(ws);
    expect(c.code).toBe(1014);
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1006, initiator: 'backend' });
    await assertNoLeaks(p, [backend]);
  });

  it('client drop: backend gets 1001, 1006 recorded for the client', async () => {
    let backendClose!: Promise<number>;
    backend = await echoBackend({}, (ws) => {
      backendClose = new Promise((r) => ws.once('close', (code) => r(code)));
    });
    p = await startProxy(simpleConfig([backend.url]));
    const ws = await connect(p.url);
    await new Promise((r) => setImmediate(r));
    ws.terminate();
    await p.rec.closes(1);
    expect(await backendClose).toBe(1001);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1006, initiator: 'client' });
    await assertNoLeaks(p, [backend]);
  });

  it('100 concurrent sessions', async () => {
    backend = await echoBackend();
    p = await startProxy(simpleConfig([backend.url]));
    const clients = await Promise.all(Array.from({ length: 100 }, () => connect(p.url)));
    const replies = clients.map((ws, i) => {
      const m = nextMessage(ws);
      ws.send(`m${i}`);
      return m;
    });
    const got = await Promise.all(replies);
    got.forEach((m, i) => expect(m.data.toString()).toBe(`m${i}`));
    expect(p.proxy.activeSessions).toBe(100);
    await Promise.all(clients.map((ws) => { const c = closed(ws); ws.close(1000); return c; }));
    await p.rec.closes(100);
    await assertNoLeaks(p, [backend]);
  });
});
void WebSocket;
