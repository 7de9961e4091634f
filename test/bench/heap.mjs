/**
 * What one idle session holds on wstap's heap, by object kind: a heap snapshot of the proxy
 * before and after opening N sessions, diffed and divided by N. Use it to see where per-session
 * memory goes before changing anything (RSS from `run.mjs --only idle` says how much, this says
 * what).
 *
 *   node test/bench/heap.mjs [--sessions N] [--bare] [--no-message] [--top K] [--dist DIR]
 *
 * It starts a `ws` echo backend in this process and the `wstap` target of run.mjs (metrics on,
 * heartbeats at 30 s; `--bare`: `wstap-bare`, neither) with `--heapsnapshot-signal`, opens 20
 * sessions to warm up, takes snapshot A, opens N more (each sends one message and waits for
 * its echo, unless `--no-message`), takes snapshot B and prints bytes
 * and objects per session by (type, constructor). Fixed costs that grew between the snapshots
 * (JIT code, hash-table backing stores) show up as fractions of an object per session.
 * Snapshots go to a temp dir that is removed at the end. Loopback only; every wait is bounded.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocket, WebSocketServer } from 'ws';
import { hardNofile, sleep, stopProcess } from './lib.mjs';
import { startTarget } from './targets.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const { values: opt } = parseArgs({
  options: {
    sessions: { type: 'string', default: '3000' },
    bare: { type: 'boolean', default: false },
    'no-message': { type: 'boolean', default: false },
    top: { type: 'string', default: '25' },
    dist: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  console.log('usage: node test/bench/heap.mjs [--sessions N] [--bare] [--no-message] [--top K] [--dist DIR]');
  process.exit(0);
}
const N = Number(opt.sessions);
// This process holds each session's client and backend sockets.
if (hardNofile() < 2 * N + 500) {
  console.error(`heap.mjs: ${N} sessions need ${2 * N + 500} file descriptors, the limit is ${hardNofile()}: lower --sessions, or raise it (ulimit -n)`);
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), 'wstap-heap-'));

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, clientTracking: false });
await new Promise((r) => wss.once('listening', r));
wss.on('connection', (ws) => ws.on('message', (d, binary) => ws.send(d, { binary })));
const clients = [];
let target;
try {
  // The same wstap as run.mjs's targets, with snapshots on SIGUSR2, written into `dir`.
  target = await startTarget(opt.bare ? 'wstap-bare' : 'wstap', wss.address().port, {
    dir,
    dist: resolve(repo, opt.dist ?? 'dist'),
    sessions: N,
    nofile: 2 * N + 500,
    nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`],
  });
  await openSessions(20);
  const a = await snapshot();
  await openSessions(N);
  const b = await snapshot();
  report(aggregate(a), aggregate(b));
} finally {
  for (const ws of clients) ws.terminate();
  await stopProcess(target?.rec);
  wss.close();
  rmSync(dir, { recursive: true, force: true });
}

/** Open `n` sessions, 100 at a time; each sends one message and waits for its echo. */
async function openSessions(n) {
  for (let i = 0; i < n; i += 100) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 100); j++) {
      const ws = new WebSocket(`ws://127.0.0.1:${target.port}/`, { perMessageDeflate: false });
      clients.push(ws);
      batch.push(
        new Promise((res, rej) => {
          const timer = setTimeout(() => rej(new Error('session did not open in 10 s')), 10_000);
          const done = () => {
            clearTimeout(timer);
            res();
          };
          ws.once('error', rej);
          ws.once('open', () => {
            if (opt['no-message']) return done();
            ws.send('hi');
            ws.once('message', done);
          });
        }),
      );
    }
    await Promise.all(batch);
  }
}

/** Ask the child for a heap snapshot and wait until it is written. */
async function snapshot() {
  const before = new Set(readdirSync(dir));
  process.kill(target.rec.child.pid, 'SIGUSR2');
  for (let i = 0; i < 600; i++) {
    await sleep(100);
    const f = readdirSync(dir).find((x) => x.endsWith('.heapsnapshot') && !before.has(x));
    if (f === undefined) continue;
    // Written when it parses: the file grows while V8 streams it out.
    try {
      return JSON.parse(readFileSync(join(dir, f), 'utf8'));
    } catch {
      before.clear();
      for (const x of readdirSync(dir)) if (x !== f) before.add(x);
    }
  }
  throw new Error('no heap snapshot within 60 s');
}

/** Bytes and objects by "type name" (strings and code grouped). */
function aggregate(s) {
  const m = s.snapshot.meta;
  const nf = m.node_fields.length;
  const types = m.node_types[0];
  const iT = m.node_fields.indexOf('type');
  const iN = m.node_fields.indexOf('name');
  const iS = m.node_fields.indexOf('self_size');
  const out = new Map();
  let total = 0;
  for (let i = 0; i < s.nodes.length; i += nf) {
    const t = types[s.nodes[i + iT]];
    const name = t.includes('string') ? '(string)' : t === 'code' ? '(code)' : s.strings[s.nodes[i + iN]].slice(0, 60);
    const size = s.nodes[i + iS];
    const e = out.get(`${t} ${name}`) ?? [0, 0];
    e[0]++;
    e[1] += size;
    out.set(`${t} ${name}`, e);
    total += size;
  }
  return { out, total };
}

function report(a, b) {
  console.log(`wstap heap per session: ${N} sessions${opt.bare ? ' (bare: no metrics, no heartbeats)' : ''}${opt['no-message'] ? ', untouched' : ', one message each'}`);
  console.log(`  ${((b.total - a.total) / N).toFixed(0)} B per session in all\n`);
  console.log('  bytes/session  objects/session  kind');
  const rows = [];
  for (const [k, [count, size]] of b.out) {
    const [c0, s0] = a.out.get(k) ?? [0, 0];
    rows.push([k, (count - c0) / N, (size - s0) / N]);
  }
  rows.sort((x, y) => y[2] - x[2]);
  for (const [k, count, size] of rows.slice(0, Number(opt.top))) {
    console.log(`  ${size.toFixed(1).padStart(13)}  ${count.toFixed(2).padStart(15)}  ${k}`);
  }
}
