/**
 * Tunnel reads land in a reusable buffer (`readDirect` in src/proxy/tunnel.ts), on both legs.
 * If any of it were still referenced by a write queued toward a slow reader when the next read
 * overwrote it, the reader would receive bytes that were never sent, in that order (the first
 * test fails when small reads are handed on in place). Slow raw readers — clients in one test,
 * backends in the other — read a mixed stream (small frames in small writes, large frames in
 * bulk writes, frames that came with the handshake) and every byte they get must match what
 * was sent. Bulk streams read into buffers of their own, within a budget: past it they are
 * copied like small reads, and every buffer goes back to the budget when its session ends.
 */
import { createHash, randomBytes } from 'node:crypto';
import net, { type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { assertNoLeaks, simpleConfig, startProxy, type RunningProxy } from '../../helpers/proxy.js';
import { crashGuard } from '../../helpers/backends.js';
import { bulkReads } from '../../../src/proxy/tunnel.js';
import { FIXED_MASK, Prng, acceptKey, frame as rawFrame, headEnd, rawBackend, requestKey, upgradeRequest, type RawBackend, type RawConn } from '../../helpers/raw.js';

crashGuard();

let p: RunningProxy | undefined;
let backend: RawBackend | undefined;
const raws = new Set<{ socket: Socket }>();

afterEach(async () => {
  for (const r of raws) r.socket.destroy();
  raws.clear();
  await p?.close();
  await backend?.close();
  p = undefined;
  backend = undefined;
});

/**
 * The bytes one backend connection sends after its 101, as the writes it makes. `small`: frames
 * of up to 130 bytes in writes of up to 12 KiB, so the proxy reads them in small pieces;
 * `medium`: single frames a little larger than what the proxy copies out (read in place, and
 * a partial write toward the client can leave a small remainder queued while reading goes on);
 * `mixed`: all of these plus bulk writes of large frames (full 64 KiB reads).
 */
function streamPlan(seed: number, kind: 'small' | 'medium' | 'mixed', masked = false, bytes = 8_000_000): { writes: Buffer[][]; total: Buffer } {
  const rnd = new Prng(seed);
  const frame = (opcode: number, payload: Buffer): Buffer => rawFrame(opcode, payload, masked ? { mask: FIXED_MASK } : {});
  const writes: Buffer[][] = [];
  for (let size = 0; size < bytes; ) {
    const batch: Buffer[] = [];
    const k = kind === 'small' ? 0 : kind === 'medium' ? 1 : rnd.int(0, 2);
    if (k === 0) {
      for (let bytes = rnd.int(1, 12_000); bytes > 0; ) {
        const f = frame(2, randomBytes(rnd.int(0, 130)));
        batch.push(f);
        bytes -= f.length;
      }
    } else if (k === 1) {
      batch.push(frame(2, randomBytes(rnd.int(17_000, 30_000))));
    } else {
      for (let j = rnd.int(1, 4); j > 0; j--) {
        batch.push(frame(2, randomBytes(rnd.int(16_000, 120_000))));
        if (rnd.next() < 0.5) batch.push(frame(2, randomBytes(rnd.int(1, 40))));
      }
    }
    for (const f of batch) size += f.length;
    writes.push(batch);
  }
  return { writes, total: Buffer.concat(writes.flat()) };
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

describe('tunnel reads into a reused buffer', () => {
  it('slow clients receive exactly what their backends sent (small and large frames, concurrent sessions)', async () => {
    await slowClientsReceiveExactly([
      ['small', 11],
      ['medium', 22],
      ['mixed', 33],
    ]);
    // Every bulk read buffer went back to the budget when its session ended.
    expect(bulkReads.inUse).toBe(0);
  }, 60_000);

  it('past the bulk-buffer budget, bulk reads are copied out of the shared buffer, and stay exact', async () => {
    const max = bulkReads.max;
    bulkReads.max = 1;
    let most = 0;
    try {
      await slowClientsReceiveExactly(
        [
          ['mixed', 77],
          ['mixed', 78],
          ['medium', 79],
        ],
        () => (most = Math.max(most, bulkReads.inUse)),
      );
    } finally {
      bulkReads.max = max;
    }
    // One flow at a time read in place; the others were copied (and were exact, above).
    expect(most).toBe(1);
    expect(bulkReads.inUse).toBe(0);
  }, 60_000);

  it('slow backends receive exactly what their clients sent (small and large frames, concurrent sessions)', async () => {
    const conns = new Map<number, RawConn>();
    const paced = new Set<number>();
    backend = await rawBackend((conn, head) => {
      const seed = Number(/^GET \/(?:small|medium|mixed)(\d+)/.exec(head)![1]);
      conns.set(seed, conn);
      // One chunk per resume (see below), from the start: the proxy pauses and resumes each
      // client (backpressure on a socket switched to direct reads) while small and bulk reads
      // alternate.
      conn.socket.pause();
      conn.socket.on('data', () => {
        if (paced.has(seed)) conn.socket.pause();
      });
      paced.add(seed);
      conn.socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(requestKey(head))}\r\n\r\n`);
    });
    p = await startProxy(simpleConfig([backend.url]));

    const sessions = [
      ['small', 44],
      ['small', 45],
      ['medium', 55],
      ['mixed', 66],
    ] as const;
    const results = await Promise.all(
      sessions.map(async ([kind, seed]) => {
        const plan = streamPlan(seed, kind, true, 4_000_000);
        const socket = net.connect({ port: p!.port, host: '127.0.0.1' });
        raws.add({ socket });
        socket.on('error', () => {});
        let head = Buffer.alloc(0);
        const got101 = new Promise<string>((resolve) => {
          const onData = (b: Buffer): void => {
            head = Buffer.concat([head, b]);
            if (headEnd(head) >= 0) {
              socket.off('data', onData);
              resolve(head.toString('latin1'));
            }
          };
          socket.on('data', onData);
          socket.on('close', () => resolve('closed'));
        });
        // The first frames go out with the upgrade request: the proxy holds them until the 101.
        socket.write(Buffer.concat([Buffer.from(upgradeRequest(`/${kind}${seed}`).text), ...plan.writes[0]!]));
        expect((await got101).slice(0, 12)).toBe('HTTP/1.1 101');
        const conn = await until(() => conns.get(seed));
        const sending = (async () => {
          for (const batch of plan.writes.slice(1)) {
            if (!socket.write(Buffer.concat(batch))) await new Promise((r) => socket.once('drain', r));
            else await new Promise((r) => setImmediate(r));
            if (socket.destroyed) return;
          }
        })();
        const want = plan.total.length;
        const body = (): Buffer => {
          const all = conn.received();
          return all.subarray(headEnd(all));
        };
        const deadline = Date.now() + 30_000;
        for (let i = 0; body().length < want && Date.now() < deadline && !conn.socket.destroyed; i++) {
          if (i === 400) paced.delete(seed);
          conn.socket.resume();
          await sleep(5);
        }
        await sending;
        const b = body();
        return { kind, len: b.length, sha: sha(b), wantLen: want, wantSha: sha(plan.total), frames: plan.writes.flat().length };
      }),
    );
    for (const r of results) expect({ kind: r.kind, len: r.len, sha: r.sha }).toEqual({ kind: r.kind, len: r.wantLen, sha: r.wantSha });
    const frames = results.reduce((n, r) => n + r.frames, 0);
    expect(p.rec.messages.filter((m) => m.dir === 'client_to_backend')).toHaveLength(frames);
    expect(p.rec.violations).toEqual([]);
    // A paused backend would never read the proxy's FIN: end both sides here.
    for (const c of conns.values()) c.socket.destroy();
    for (const r of raws) r.socket.destroy();
    await assertNoLeaks(p);
    expect(bulkReads.inUse).toBe(0);
  }, 60_000);
});

/**
 * Slow raw clients, one per session, each read what its backend streams (see `streamPlan`);
 * every byte must match. `sample` runs at every step of the clients' reading.
 */
async function slowClientsReceiveExactly(sessions: readonly (readonly ['small' | 'medium' | 'mixed', number])[], sample: () => void = () => {}): Promise<void> {
  const plans = new Map<string, { writes: Buffer[][]; total: Buffer }>();
  backend = await rawBackend((conn, head) => {
    // The client names its plan in the path, so each session streams its own bytes.
    const m = /^GET \/(small|medium|mixed)(\d+)/.exec(head)!;
    const seed = Number(m[2]);
    const plan = streamPlan(seed, m[1] as 'small' | 'medium' | 'mixed');
    plans.set(String(seed), plan);
    const [first, ...rest] = plan.writes;
    const key = requestKey(head);
    // The first frames come in the same write as the 101: the dialler's `head`.
    conn.socket.write(
      Buffer.concat([
        Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`),
        ...first!,
      ]),
    );
    void (async () => {
      for (const batch of rest) {
        const ok = conn.socket.write(Buffer.concat(batch));
        if (!ok) await new Promise((r) => conn.socket.once('drain', r));
        else await new Promise((r) => setImmediate(r));
        if (conn.socket.destroyed) return;
      }
    })();
  });
  p = await startProxy(simpleConfig([backend.url]));

  const results = await Promise.all(
    sessions.map(async ([kind, seed]) => {
      const c = await slowClient(p!.port);
      c.socket.write(upgradeRequest(`/${kind}${seed}`).text);
      const h = await c.headReceived;
      expect(h.toString('latin1').slice(0, 12), h.toString('latin1')).toBe('HTTP/1.1 101');
      const plan = await until(() => plans.get(String(seed)));
      const want = plan.total.length;
      // Not reading at first: the proxy's writes toward this client fill its socket, and from
      // then on some stay queued (partly written) while the backend streams on. Then one
      // small read per millisecond, and finally everything.
      await sleep(300);
      const deadline = Date.now() + 30_000;
      for (let i = 0; c.bodyLength() < want && Date.now() < deadline && !c.socket.destroyed; i++) {
        if (i === 200) c.fast();
        c.socket.resume();
        sample();
        await sleep(1);
      }
      const all = Buffer.concat(c.chunks);
      const body = all.subarray(headEnd(all));
      return { kind, len: body.length, sha: sha(body), wantLen: want, wantSha: sha(plan.total) };
    }),
  );
  for (const r of results) expect({ kind: r.kind, len: r.len, sha: r.sha }).toEqual({ kind: r.kind, len: r.wantLen, sha: r.wantSha });
  // Every data frame was counted once: framing was followed through all of it.
  const frames = [...plans.values()].reduce((n, plan) => n + plan.writes.flat().length, 0);
  expect(p.rec.messages.filter((m) => m.dir === 'backend_to_client')).toHaveLength(frames);
  expect(p.rec.violations).toEqual([]);
  for (const r of raws) r.socket.destroy();
  await assertNoLeaks(p);
}

async function until<T>(get: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() - start > timeoutMs) throw new Error('timed out');
    await sleep(2);
  }
}

/**
 * A client that reads at most 8 KiB at a time and pauses after each read until resumed: its
 * receive window stays small, so whatever the proxy writes toward it backs up quickly.
 */
async function slowClient(port: number): Promise<{ socket: Socket; chunks: Buffer[]; headReceived: Promise<Buffer>; bodyLength(): number; fast(): void }> {
  const chunks: Buffer[] = [];
  let total = 0;
  let headAt = -1;
  let fast = false;
  let gotHead!: (b: Buffer) => void;
  const headReceived = new Promise<Buffer>((r) => (gotHead = r));
  const socket = net.connect({
    port,
    host: '127.0.0.1',
    onread: {
      buffer: Buffer.alloc(8192),
      callback(n: number, buf: Uint8Array): boolean {
        chunks.push(Buffer.from(buf.subarray(0, n)));
        total += n;
        if (fast) return true;
        if (headAt < 0) {
          const all = Buffer.concat(chunks);
          const end = headEnd(all);
          if (end >= 0) {
            headAt = end;
            gotHead(all.subarray(0, end));
            return true;
          }
          return true;
        }
        return false;
      },
    },
  });
  socket.on('error', () => {});
  socket.on('close', () => gotHead(Buffer.from('closed')));
  raws.add({ socket });
  await new Promise((r) => socket.once('connect', r));
  return { socket, chunks, headReceived, bodyLength: () => (headAt < 0 ? 0 : total - headAt), fast: () => (fast = true) };
}
