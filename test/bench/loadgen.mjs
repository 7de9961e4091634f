/**
 * Benchmark load generator: its own process (so it never shares the proxy's event loop), driven
 * by run.mjs over IPC. It speaks WebSocket on raw sockets (hand-written upgrade, pre-built
 * masked frames, a passive frame counter), which costs far less CPU than a `ws` client.
 *
 * argv[2]: JSON { mode, port, conns, warmMs, measureMs, maxMs, ... }. Every loop is bounded in
 * count and time, and the process exits by itself after maxMs.
 *
 * Events sent to the parent: { ev: 'start' } when the measuring window opens, { ev: 'end',
 * result } when it closes (the parent reads /proc CPU counters on both), and for `idle`
 * { ev: 'opened' } / { ev: 'touched' } / { ev: 'closed' }, answering the parent's
 * { cmd: 'open' | 'touch' | 'close' }.
 *
 * Modes:
 *   pingpong  closed loop: `conns` connections, each sends a 64 B binary message and waits for
 *             its echo; round trips and RTT histogram over the window
 *   open      open loop at a fixed total rate (`rate` messages/s spread over `conns`, sent from a
 *             1 ms tick): latency from the actual send, and from the *scheduled* send time (which
 *             also counts the generator's own lag: free of coordinated omission)
 *   flood     `conns` connections to /floodraw?size=N: bytes and frames received per second
 *   idle      open `conns` sessions, 200 at a time; later one echo each; then close
 *   connrate  `concurrency` workers each open a session, do the close handshake, and repeat
 */
import { performance } from 'node:perf_hooks';
import { Histogram, rawUpgrade, clientFrame, FrameCounter, sleep } from './lib.mjs';

const cfg = JSON.parse(process.argv[2]);
const hardStop = setTimeout(() => {
  send({ ev: 'error', message: `load generator hit its hard time limit (${cfg.maxMs} ms)` });
  process.exit(3);
}, cfg.maxMs ?? 120_000);
hardStop.unref();
process.on('disconnect', () => process.exit(0));

function send(m) {
  if (process.send && process.connected) process.send(m);
}

const commands = [];
let commandWaiter = null;
process.on('message', (m) => {
  commands.push(m);
  if (commandWaiter) commandWaiter();
});
async function nextCommand() {
  while (commands.length === 0) await new Promise((r) => (commandWaiter = r));
  commandWaiter = null;
  return commands.shift();
}

const MSG = Buffer.alloc(64, 0x42);
const FRAME = clientFrame(MSG);
const CLOSE = clientFrame(Buffer.from([0x03, 0xe8]), 0x8); // 1000

let errors = 0;

/** A frame reader for `sock` that answers pings (a proxy's heartbeats) with pongs. */
function reader(sock, onData) {
  return new FrameCounter(onData, (op, payload) => {
    if (op === 0x9 && !sock.destroyed) sock.write(clientFrame(payload, 0xa));
  });
}

/**
 * Read a session from the moment it is open: its `counter` answers the proxy's heartbeat pings
 * at once, even while other sessions are still opening (a session that left them unanswered for
 * longer than `heartbeat.timeout` would be ended as dead). A mode sets `counter.onData`.
 */
function listen(s) {
  s.counter = reader(s.sock, null);
  if (s.rest.length) s.counter.push(s.rest);
  s.sock.on('data', (d) => s.counter.push(d));
  s.sock.on('error', () => errors++);
  s.sock.resume();
  return s;
}

/** Open `n` sessions, at most `inFlight` handshakes at a time, each read from its open on. */
async function openMany(n, inFlight, path = '/') {
  const socks = new Array(n);
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < n) {
      const i = next++;
      socks[i] = await rawUpgrade(cfg.port, path).then(
        (r) => listen(r),
        (e) => {
          errors++;
          if (errors < 3) send({ ev: 'warn', message: String(e.message ?? e) });
          return null;
        },
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, n) }, worker));
  return { socks: socks.filter(Boolean), openMs: performance.now() - t0 };
}

async function closeAll(socks, waitMs = 2000) {
  const done = Promise.all(
    socks.map(
      ({ sock }) =>
        new Promise((r) => {
          if (sock.destroyed) return r();
          sock.once('close', r);
          sock.on('error', () => {});
          sock.resume();
          sock.end(CLOSE);
        }),
    ),
  );
  await Promise.race([done, sleep(waitMs)]);
  for (const { sock } of socks) sock.destroy();
}

/** Warm up, open the window, wait, close it. `onOpen`/`onClose` flip the recording state. */
async function window(onOpen, onClose) {
  await sleep(cfg.warmMs);
  onOpen();
  const t0 = performance.now();
  send({ ev: 'start' });
  await sleep(cfg.measureMs);
  const windowS = (performance.now() - t0) / 1000;
  const extra = onClose(windowS);
  return { windowS, ...extra };
}

// -------------------------------------------------------------------------------------------

async function pingpong() {
  const { socks } = await openMany(cfg.conns, 200);
  const hist = new Histogram();
  let recording = false;
  let running = true;
  let count = 0;
  for (const { sock, counter } of socks) {
    let sentAt = 0;
    const fire = () => {
      sentAt = performance.now();
      sock.write(FRAME);
    };
    counter.onData = () => {
      if (recording) {
        hist.record((performance.now() - sentAt) * 1000);
        count++;
      }
      if (running) fire();
    };
    fire();
  }
  const res = await window(
    () => (recording = true),
    () => {
      recording = false;
      running = false;
      return { count, latency: hist.summary(), conns: socks.length };
    },
  );
  await sleep(50);
  await closeAll(socks);
  return res;
}

async function openLoop() {
  const { socks } = await openMany(cfg.conns, 200);
  const rate = cfg.rate;
  const hist = new Histogram(); // from the actual send: what the path adds
  const histSched = new Histogram(); // from the scheduled send: includes the generator's own lag
  const conns = socks.map(({ sock, counter }) => ({ sock, counter, q: [], qs: [], qh: 0 }));
  let measuring = false;
  let winFrom = Infinity;
  let winTo = Infinity;
  let sentInWin = 0;
  let recvInWin = 0;
  let dropped = 0;
  for (const c of conns) {
    c.counter.onData = () => {
      const intended = c.q[c.qh];
      const sentAt = c.qs[c.qh++];
      if (c.qh === c.q.length) {
        c.q.length = 0;
        c.qs.length = 0;
        c.qh = 0;
      }
      if (intended >= winFrom && intended < winTo) {
        const now = performance.now();
        hist.record((now - sentAt) * 1000);
        histSched.record((now - intended) * 1000);
        recvInWin++;
      }
    };
  }
  const t0 = performance.now();
  const interval = 1000 / rate;
  let k = 0; // messages scheduled so far
  let rr = 0;
  let stopAt = Infinity;
  const tick = setInterval(() => {
    const now = performance.now();
    const until = Math.min(now, stopAt);
    while (t0 + k * interval <= until) {
      const intended = t0 + k * interval;
      k++;
      const c = conns[rr];
      rr = (rr + 1) % conns.length;
      if (c.q.length - c.qh > 10_000) {
        dropped++;
        continue;
      }
      c.q.push(intended);
      c.qs.push(now);
      c.sock.write(FRAME);
      if (measuring && intended >= winFrom && intended < winTo) sentInWin++;
    }
  }, 1);
  const res = await window(
    () => {
      measuring = true;
      winFrom = performance.now();
    },
    (windowS) => {
      winTo = winFrom + windowS * 1000;
      stopAt = winTo;
      return {};
    },
  );
  // Let replies for the window's messages arrive (bounded).
  const waitUntil = performance.now() + Math.max(500, Math.min(3000, cfg.measureMs));
  while (recvInWin < sentInWin && performance.now() < waitUntil) await sleep(10);
  clearInterval(tick);
  const r = {
    ...res,
    rate,
    sent: sentInWin,
    count: recvInWin,
    lost: sentInWin - recvInWin,
    dropped,
    latency: hist.summary(),
    fromSchedule: histSched.summary(),
    conns: socks.length,
  };
  await closeAll(socks);
  return r;
}

async function flood() {
  const { socks } = await openMany(cfg.conns, 50, `/floodraw?size=${cfg.size}`);
  const counters = socks.map(({ counter }) => counter);
  let b0 = 0;
  let f0 = 0;
  const sum = (k) => counters.reduce((a, c) => a + c[k], 0);
  const res = await window(
    () => {
      b0 = sum('bytes');
      f0 = sum('frames');
    },
    () => ({ bytes: sum('bytes') - b0, frames: sum('frames') - f0, conns: socks.length }),
  );
  for (const { sock } of socks) sock.destroy();
  return res;
}

async function idle() {
  const cmd = await nextCommand();
  if (cmd.cmd !== 'open') throw new Error('idle: expected open');
  const { socks, openMs } = await openMany(cfg.conns, 200);
  // Every session reads (and answers heartbeats); `pending` is its echo callback, if any.
  const sessions = socks.map(({ sock, counter }) => {
    const ses = { sock, pending: null };
    counter.onData = () => {
      const p = ses.pending;
      ses.pending = null;
      if (p) p();
    };
    return ses;
  });
  send({ ev: 'opened', opened: socks.length, openMs, errors });
  await nextCommand(); // touch
  const t0 = performance.now();
  let left = socks.length;
  await new Promise((resolve) => {
    if (left === 0) resolve();
    // One echo per session, 200 at a time.
    let next = 0;
    const one = () => {
      if (next >= sessions.length) return;
      const ses = sessions[next++];
      ses.pending = () => {
        if (--left === 0) resolve();
        else one();
      };
      ses.sock.write(FRAME);
    };
    for (let i = 0; i < 200; i++) one();
    setTimeout(resolve, Math.max(5000, cfg.measureMs * 5)).unref();
  });
  send({ ev: 'touched', touchMs: performance.now() - t0, missing: left, errors });
  await nextCommand(); // close
  await closeAll(socks, 5000);
  send({ ev: 'closed' });
}

async function connrate() {
  const hist = new Histogram();
  let recording = false;
  let running = true;
  let count = 0;
  let total = 0;
  const maxSessions = cfg.maxSessions ?? 50_000;
  const oneSession = async () => {
    const t = performance.now();
    const { sock } = await rawUpgrade(cfg.port, '/');
    const up = performance.now() - t;
    await new Promise((resolve) => {
      const timer = setTimeout(() => {
        sock.destroy();
        resolve();
      }, 5000);
      sock.on('error', () => {});
      // The peer's close frame (or its FIN) ends the handshake; then we end ours.
      sock.once('data', () => sock.end());
      sock.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      sock.resume();
      sock.write(CLOSE);
    });
    return up;
  };
  const worker = async () => {
    while (running && total < maxSessions) {
      total++;
      try {
        const up = await oneSession();
        if (recording) {
          hist.record(up * 1000);
          count++;
        }
      } catch {
        errors++;
        await sleep(5);
      }
    }
  };
  const workers = Array.from({ length: cfg.concurrency }, worker);
  const res = await window(
    () => (recording = true),
    () => {
      recording = false;
      running = false;
      return { count, latency: hist.summary(), capped: total >= maxSessions };
    },
  );
  await Promise.race([Promise.all(workers), sleep(6000)]);
  return res;
}

// -------------------------------------------------------------------------------------------

const modes = { pingpong, open: openLoop, flood, idle, connrate };
try {
  const result = await modes[cfg.mode]();
  send({ ev: 'end', result: { ...result, errors } });
} catch (err) {
  send({ ev: 'error', message: String(err?.stack ?? err) });
}
// Give the IPC message time to leave, then go.
setTimeout(() => process.exit(0), 100);
