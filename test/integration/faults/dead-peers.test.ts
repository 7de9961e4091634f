/**
 * Dead peers and blackholes with full buffers (research §6 #13; Envoy
 * `TestIdletimeoutWithLargeOutstandingData`): a leg that stops reading and sending without a FIN
 * is found by the heartbeat (or the idle timeout) even while megabytes are stuck in the buffers
 * toward it, and the session is torn down: close frame to the live leg at a boundary, both
 * sockets destroyed, nothing left open.
 */
import { describe, expect, it } from 'vitest';
import { assertNoLeaks, simpleConfig, startProxy, type RunningProxy } from '../../helpers/proxy.js';
import { crashGuard, trackedBackend, type BackendConn, type TrackedBackend } from '../../helpers/backends.js';
import { useLeakCheck } from '../../helpers/proxy-fixture.js';
import { RawClient, rawWebSocket, headEnd } from '../../helpers/raw.js';
import { FrameReader, zeroMaskHeader } from '../../helpers/faults.js';

crashGuard();

let p: RunningProxy | undefined;
let backend: TrackedBackend | undefined;
const { rawClients } = useLeakCheck(async () => {
  await p?.close();
  await backend?.close();
  p = backend = undefined;
});

const MB = 1024 * 1024;

function pingLog(rp: RunningProxy): { timeouts: string[]; rtts: string[] } {
  const r = { timeouts: [] as string[], rtts: [] as string[] };
  rp.hub.subscribe({ pingTimeout: (_s, leg) => r.timeouts.push(leg), ping: (_s, leg) => r.rtts.push(leg) });
  return r;
}

/** A raw WebSocket client whose received frames are read as they come. */
async function rawWsReader(port: number): Promise<{ c: RawClient; reader: FrameReader; closeFrame: Promise<number> }> {
  const { client: c } = await rawWebSocket(port);
  rawClients.add(c);
  let resolveClose!: (code: number) => void;
  const closeFrame = new Promise<number>((r) => (resolveClose = r));
  const reader = new FrameReader({ onControl: (op, payload) => op === 8 && resolveClose(payload.length >= 2 ? payload.readUInt16BE(0) : 1005) });
  const after = c.received().subarray(headEnd(c.received()));
  if (after.length > 0) reader.push(after);
  c.socket.on('data', (b: Buffer) => reader.push(b));
  return { c, reader, closeFrame };
}

/** Queue `total` bytes of 1 MB binary frames on the client socket at once (no waiting for drain). */
function flood(c: RawClient, total: number): void {
  const payload = Buffer.alloc(MB, 0x61);
  const head = zeroMaskHeader(0x2, MB);
  for (let sent = 0; sent < total; sent += MB) {
    c.socket.write(head);
    c.socket.write(payload);
  }
}

describe('a backend that stops reading and sending, without FIN, with the buffers toward it full', () => {
  it('the heartbeat timeout fires anyway: the client gets 1014, the backend leg is destroyed, 1006 is recorded for it', async () => {
    let conn!: BackendConn;
    backend = await trackedBackend({
      onConnection: (c) => {
        conn = c;
        c.ws.pause(); // a partition: reads nothing, sends nothing (not even pongs), never FINs
      },
    });
    p = await startProxy(simpleConfig([backend.url], { heartbeat: { interval: 100, timeout: 300 }, timeouts: { close: 500 } }));
    const pings = pingLog(p);
    const { c, closeFrame } = await rawWsReader(p.port);
    const t0 = performance.now();
    flood(c, 64 * MB);
    const code = await closeFrame;
    const took = performance.now() - t0;
    // Megabytes were still stuck on the client side when the session was ended.
    const outstanding = c.socket.writableLength;
    expect(code).toBe(1014);
    expect(outstanding).toBeGreaterThan(16 * MB);
    expect(took).toBeLessThan(100 + 300 + 1500);
    expect(pings.timeouts).toEqual(['backend']);
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1006, initiator: 'backend' });
    expect(p.rec.errors).toContain('heartbeat_timeout');
    // The partition heals: the backend reads again and finds its connection gone.
    conn.ws.resume();
    await conn.closed;
    c.socket.destroy();
    await assertNoLeaks(p);
    await backend.drained();
  });

  it('timeouts.idle fires anyway (heartbeats off): 1001 to the client, both legs destroyed after timeouts.close', async () => {
    let conn!: BackendConn;
    backend = await trackedBackend({
      onConnection: (c) => {
        conn = c;
        c.ws.pause();
      },
    });
    p = await startProxy(simpleConfig([backend.url], { timeouts: { idle: 300, close: 300 } }));
    const { c, closeFrame } = await rawWsReader(p.port);
    const t0 = performance.now();
    flood(c, 64 * MB);
    expect(await closeFrame).toBe(1001);
    expect(c.socket.writableLength).toBeGreaterThan(16 * MB);
    await p.rec.closes(1);
    expect(performance.now() - t0).toBeLessThan(300 + 300 + 1500);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1001, initiator: 'proxy' });
    expect(p.rec.errors).toContain('idle_timeout');
    await c.closed;
    conn.ws.resume();
    await conn.closed;
    await assertNoLeaks(p);
    await backend.drained();
  });
});

describe('a client that stops reading and sending, without FIN, with the buffers toward it full', () => {
  it('the heartbeat timeout fires anyway: the backend gets 1001, 1006 is recorded for the client', async () => {
    let backendClose!: Promise<{ code: number; reason: string }>;
    let queued = 0;
    backend = await trackedBackend({
      onConnection: (conn) => {
        backendClose = conn.closed;
        // 64 MB at once: ws queues what the socket does not take.
        const m = Buffer.alloc(MB, 0x62);
        for (let i = 0; i < 64; i++) conn.ws.send(m);
        queued = conn.ws.bufferedAmount;
      },
    });
    p = await startProxy(simpleConfig([backend.url], { heartbeat: { interval: 100, timeout: 300 }, timeouts: { close: 500 } }));
    const pings = pingLog(p);
    const connP = backend.nextConnection();
    const { client: c } = await rawWebSocket(p.port);
    rawClients.add(c);
    c.socket.pause(); // never reads again, never answers a ping
    const t0 = performance.now();
    await connP;
    const closedAt = await backendClose;
    const took = performance.now() - t0;
    expect(closedAt.code).toBe(1001);
    expect(queued).toBeGreaterThan(16 * MB);
    expect(took).toBeLessThan(100 + 300 + 1500);
    expect(pings.timeouts).toEqual(['client']);
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1006, initiator: 'client' });
    expect(p.rec.errors).toContain('heartbeat_timeout');
    c.socket.destroy();
    await assertNoLeaks(p);
    await backend.drained();
  });
});
