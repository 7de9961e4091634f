/**
 * Floods (research §6 #15, the `ws` 8.21 advisory pattern): one message in 100 000 one-byte
 * fragments (the advisory's 1 M scaled down to stay fast; FLOOD_COUNT changes it), and 100 000
 * pings in a row (each answered by the backend: 100 000 pongs back). wstap runs as its own
 * process so that its RSS can be sampled; meanwhile another session keeps echoing, and its
 * round trips must stay short. No crash, every frame through, memory bounded, nothing left open.
 *
 * wstap has no fragment-count or control-frame policy of its own (SPEC §6: it is transparent
 * and leaves protocol decisions to the endpoints; only `limits.max_message_bytes` is its own), so
 * the floods pass through. Route /open goes to a `ws` backend with its flood guards off, so
 * the whole flood crosses wstap both ways; route /guarded to a `ws` 8.23 backend with its
 * defaults (maxFragments 16384 → close 1008; maxPendingAutoPongs 60 → terminate), whose
 * verdict wstap must relay: the backend's 1008, or 1014 for its dropped TCP.
 */
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { crashGuard, noOpenSockets, trackedBackend, type TrackedBackend } from '../../helpers/backends.js';
import { buildOnce, killChildren, serve, tempDir, type Served } from '../../helpers/cli.js';
import { FIXED_MASK, RawClient, closeFrameOf, frame, headEnd, rawWebSocket } from '../../helpers/raw.js';
import { FrameReader, childServer, killChildServers, rssKiB, sampleRss, wstapIdle, type ChildServer } from '../../helpers/faults.js';

crashGuard();

const COUNT = Number(process.env.FLOOD_COUNT ?? 100_000);
/** Peak RSS growth allowed over the idle baseline. */
const RSS_BUDGET_KIB = 64 * 1024;
/** Longest round trip allowed during a flood: an echo through another session, and /healthz. */
const HEALTHZ_MS = 250;
const ECHO_MS = 250;

let backend: TrackedBackend;
let guarded: TrackedBackend;
let tmp: ReturnType<typeof tempDir>;
let wstap: Served;
const rawClients = new Set<RawClient>();
const figures: string[] = [];

beforeAll(async () => {
  await buildOnce();
  tmp = tempDir();
  backend = await trackedBackend({ ws: { maxPayload: 0, maxFragments: 0, maxPendingAutoPongs: 0 } as Record<string, number> });
  guarded = await trackedBackend();
  probe = await childServer(PROBE, { stdin: true });
  wstap = await serve(
    tmp.file('wstap.yaml'),
    (port, adminPort) => `
listen: { host: 127.0.0.1, port: ${port} }
admin: { host: 127.0.0.1, port: ${adminPort} }
backends:
  open: { servers: [{ id: open-1, url: "${backend.url}" }] }
  guarded: { servers: [{ id: guarded-1, url: "${guarded.url}" }] }
  bystander: { servers: [{ id: probe-1, url: "${probe.url}" }] }
routes:
  - { name: bystander, match: { path: /bystander }, backend: bystander }
  - { name: guarded, match: { path: /guarded }, backend: guarded }
  - { name: open, match: { path: / }, backend: open }
heartbeat: { interval: 250ms, timeout: 5s }
timeouts: { close: 1s }
log: { level: info }
`,
  );
}, 120_000);

afterAll(async () => {
  await killChildren();
  await killChildServers();
  await backend?.close();
  await guarded?.close();
  tmp?.remove();
  if (figures.length > 0) console.info(`floods, wstap in its own process:\n  ${figures.join('\n  ')}`);
});

afterEach(async () => {
  for (const c of rawClients) c.socket.destroy();
  rawClients.clear();
  await wstapIdle(wstap.admin);
  await backend.drained();
  await guarded.drained();
  await noOpenSockets();
  expect(wstap.child.exitCode).toBeNull();
});

/**
 * The bystander, in a process of its own so that the flood's other end (the backend and the
 * raw client in this process) does not skew its clock: a ws echo server (behind route
 * /bystander), and on "start" a ws client through wstap that echoes in a loop plus /healthz
 * polled in a loop; on "stop" it prints their round trips (ms) as JSON.
 */
const PROBE = `
import { WebSocketServer, WebSocket } from 'ws';
import http from 'node:http';
import readline from 'node:readline';
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
wss.on('connection', (ws) => { ws.on('error', () => {}); ws.on('message', (d, b) => ws.send(d, { binary: b })); });
wss.on('listening', () => process.stdout.write(wss.address().port + '\\n'));
let running = false, ws, loops;
const echo = [], healthz = [];
const once = (i) => new Promise((resolve, reject) => {
  const t = performance.now();
  ws.once('message', (d) => (String(d) === 'echo-' + i ? (echo.push(performance.now() - t), resolve()) : reject(new Error('bad echo'))));
  ws.send('echo-' + i);
});
const probe = (url) => new Promise((resolve, reject) => {
  const t = performance.now();
  http.get(url, { agent: false }, (res) => { res.resume(); res.on('end', () => { healthz.push(performance.now() - t); resolve(); }); }).on('error', reject);
});
readline.createInterface({ input: process.stdin }).on('line', async (line) => {
  const [cmd, wsUrl, hzUrl] = line.split(' ');
  if (cmd === 'start') {
    ws = new WebSocket(wsUrl);
    ws.on('error', () => {});
    await new Promise((r) => ws.once('open', r));
    running = true;
    await once(0); await probe(hzUrl);
    echo.length = 0; healthz.length = 0;
    loops = Promise.all([(async () => { for (let i = 1; running; i++) await once(i); })(), (async () => { while (running) await probe(hzUrl); })()]);
    process.stdout.write('ready\\n');
  } else if (cmd === 'stop') {
    running = false;
    await loops;
    ws.close(1000);
    await new Promise((r) => ws.once('close', r));
    process.stdout.write(JSON.stringify({ echo, healthz }) + '\\n');
  }
});
`;

let probe: ChildServer;

async function bystander(): Promise<{ stop: () => Promise<{ echo: number[]; healthz: number[] }> }> {
  probe.send(`start ${wstap.url}/bystander ${wstap.admin}/healthz`);
  expect(await probe.nextLine()).toBe('ready');
  return {
    stop: async () => {
      probe.send('stop');
      return JSON.parse(await probe.nextLine()) as { echo: number[]; healthz: number[] };
    },
  };
}

async function rawWs(path = '/'): Promise<{ c: RawClient; reader: FrameReader }> {
  const { client: c } = await rawWebSocket(wstap.port, path);
  rawClients.add(c);
  const reader = new FrameReader();
  const after = c.received().subarray(headEnd(c.received()));
  if (after.length > 0) reader.push(after);
  c.socket.on('data', (b: Buffer) => reader.push(b));
  return { c, reader };
}

function max(xs: readonly number[]): number {
  return xs.reduce((a, b) => Math.max(a, b), 0);
}

/** One binary message of `payload.length` bytes in one-byte masked fragments (7 bytes each on the wire). */
function fragmented(payload: Buffer): Buffer {
  const n = payload.length;
  const wire = Buffer.allocUnsafe(n * 7);
  for (let i = 0; i < n; i++) {
    const o = i * 7;
    wire[o] = (i === n - 1 ? 0x80 : 0) | (i === 0 ? 0x2 : 0x0);
    wire[o + 1] = 0x80 | 1;
    FIXED_MASK.copy(wire, o + 2);
    wire[o + 6] = payload[i]! ^ FIXED_MASK[0]!;
  }
  return wire;
}

/** `n` masked pings carrying their number (4 bytes), back to back. */
function pings(n: number): Buffer {
  const wire = Buffer.allocUnsafe(n * 10);
  const p4 = Buffer.alloc(4);
  for (let i = 0; i < n; i++) {
    p4.writeUInt32BE(i, 0);
    frame(0x9, p4, { mask: FIXED_MASK }).copy(wire, i * 10);
  }
  return wire;
}

describe('floods through wstap (its own process)', () => {
  it(`one message in ${COUNT} one-byte fragments: echoed whole, another session stays prompt, RSS bounded`, async () => {
    const { c, reader } = await rawWs();
    const side = await bystander();
    const payload = Buffer.allocUnsafe(COUNT);
    for (let i = 0; i < COUNT; i++) payload[i] = (i * 7) & 0xff;
    // Each fragment: 2 header bytes, the 4-byte key, 1 masked byte.
    const wire = fragmented(payload);
    const pid = wstap.child.pid!;
    const base = rssKiB(pid);
    const rss = sampleRss(pid, 10);
    const t0 = performance.now();
    const echoed = new Promise<void>((resolve) => {
      const check = (): void => {
        if (reader.messages >= 1) {
          c.socket.off('data', check);
          resolve();
        }
      };
      c.socket.on('data', check);
    });
    c.write(wire);
    await echoed;
    const secs = (performance.now() - t0) / 1000;
    const { peakKiB } = rss.stop();
    const rtts = await side.stop();
    // ws echoes the message as one frame: the same bytes.
    const bin = reader.opcodes.get(0x2) ?? 0;
    expect(bin).toBe(1);
    expect(reader.dataBytes).toBe(COUNT);
    expect(reader.digest()).toBe(createHash('sha256').update(payload).digest('hex'));
    expect(max(rtts.healthz)).toBeLessThan(HEALTHZ_MS);
    expect(max(rtts.echo)).toBeLessThan(ECHO_MS);
    expect(peakKiB - base).toBeLessThan(RSS_BUDGET_KIB);
    figures.push(
      `${COUNT} fragments (${(wire.length / 1024).toFixed(0)} KiB) relayed and echoed in ${(secs * 1000).toFixed(0)} ms; ${rtts.echo.length} echoes of another session (max ${max(rtts.echo).toFixed(1)} ms), ${rtts.healthz.length} /healthz (max ${max(rtts.healthz).toFixed(1)} ms); RSS peak +${((peakKiB - base) / 1024).toFixed(1)} MB`,
    );
    c.write(closeFrameOf(1000, '', FIXED_MASK));
    await c.closed;
  }, 30_000);

  it(`${COUNT} pings in a row: ${COUNT} pongs back in order, another session stays prompt, RSS bounded`, async () => {
    const { c, reader } = await rawWs();
    const pongs: number[] = [];
    let outOfOrder = 0;
    let allPongs!: () => void;
    const done = new Promise<void>((r) => (allPongs = r));
    const pongReader = new FrameReader({
      onControl: (op, payload) => {
        if (op !== 0xa || payload.length !== 4) return;
        const n = payload.readUInt32BE(0);
        if (n !== pongs.length) outOfOrder++;
        pongs.push(n);
        if (pongs.length === COUNT) allPongs();
      },
    });
    c.socket.on('data', (b: Buffer) => pongReader.push(b));
    const side = await bystander();
    const wire = pings(COUNT);
    const pid = wstap.child.pid!;
    const base = rssKiB(pid);
    const rss = sampleRss(pid, 10);
    const t0 = performance.now();
    c.write(wire);
    await done;
    const secs = (performance.now() - t0) / 1000;
    const { peakKiB } = rss.stop();
    const rtts = await side.stop();
    expect(pongs.length).toBe(COUNT);
    expect(outOfOrder).toBe(0);
    expect(reader.opcodes.get(0x8) ?? 0).toBe(0);
    expect(max(rtts.healthz)).toBeLessThan(HEALTHZ_MS);
    expect(max(rtts.echo)).toBeLessThan(ECHO_MS);
    expect(peakKiB - base).toBeLessThan(RSS_BUDGET_KIB);
    figures.push(
      `${COUNT} pings → ${COUNT} pongs in ${(secs * 1000).toFixed(0)} ms; ${rtts.echo.length} echoes of another session (max ${max(rtts.echo).toFixed(1)} ms), ${rtts.healthz.length} /healthz (max ${max(rtts.healthz).toFixed(1)} ms); RSS peak +${((peakKiB - base) / 1024).toFixed(1)} MB`,
    );
    c.write(closeFrameOf(1000, '', FIXED_MASK));
    await c.closed;
  }, 30_000);

  it('a backend that guards itself (ws defaults) closes 1008 on the fragment flood: the client gets that 1008, nothing leaks', async () => {
    const { c, reader } = await rawWs('/guarded');
    c.write(fragmented(Buffer.alloc(COUNT, 1)));
    await c.waitFor(() => reader.closeCodes.length > 0, "the backend's close");
    expect(reader.closeCodes).toEqual([1008]);
    c.write(closeFrameOf(1008, '', FIXED_MASK));
    await c.closed;
  });

  it('a backend that guards itself (ws defaults) drops the connection on the ping flood: the client gets 1014, nothing leaks', async () => {
    const { c, reader } = await rawWs('/guarded');
    c.write(pings(COUNT));
    await c.closed;
    // Some pongs may come first; then wstap's 1014 for the backend that went away.
    expect(reader.closeCodes).toEqual([1014]);
    expect(reader.midFrame).toBe(false);
  });
});
