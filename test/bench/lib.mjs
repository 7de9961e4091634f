/**
 * Shared helpers of the benchmark harness: /proc readings, process start/stop by pid, free
 * ports, a log-bucketed latency histogram, a raw WebSocket client (hand-written upgrade, masked
 * frames) and a passive frame counter. No dependency beyond Node itself.
 */
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, existsSync, appendFileSync } from 'node:fs';
import net from 'node:net';
import { randomBytes } from 'node:crypto';

// ---------------------------------------------------------------------------------------------
// /proc

let clkTck = 0;
/** Clock ticks per second of utime/stime in /proc/<pid>/stat (100 on Linux almost always). */
export function clockTicks() {
  if (clkTck === 0) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** utime + stime of one process (all its threads), in seconds; 0 if it is gone. */
export function cpuSeconds(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces: split after its closing parenthesis.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // f[0] is field 3 (state): utime is field 14, stime field 15.
    return (Number(f[11]) + Number(f[12])) / clockTicks();
  } catch {
    return 0;
  }
}

/** utime and stime of one process, seconds ({ user: 0, sys: 0 } if it is gone). */
export function cpuSplit(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { user: Number(f[11]) / clockTicks(), sys: Number(f[12]) / clockTicks() };
  } catch {
    return { user: 0, sys: 0 };
  }
}

/** Sum of utime + stime over a list of pids, seconds. */
export function cpuOf(pids) {
  let t = 0;
  for (const p of pids) t += cpuSeconds(p);
  return t;
}

/** VmRSS of one process in KiB (0 if gone). */
export function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export function rssOf(pids) {
  let t = 0;
  for (const p of pids) t += rssKiB(p);
  return t;
}

/** Direct children of a process (nginx workers), from /proc/<pid>/task/<pid>/children. */
export function childrenOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export function alive(pid) {
  try {
    process.kill(pid, 0);
    return existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** The hard RLIMIT_NOFILE of this process (Node raises its own soft limit to it at start). */
export function hardNofile() {
  try {
    const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) return m[2] === 'unlimited' ? 1 << 20 : Number(m[2]);
  } catch {
    /* fall through */
  }
  return 1024;
}

export function nproc() {
  try {
    return Number(execFileSync('nproc', { encoding: 'utf8' }).trim()) || 1;
  } catch {
    return 1;
  }
}

export function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    if (dir && existsSync(`${dir}/${cmd}`)) return `${dir}/${cmd}`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// processes

/** Every process this harness started and has not reaped yet: pid → { name, child }. */
export const started = new Map();

/**
 * Start `argv` as a child, optionally pinned to `cpus` (taskset) and with the soft fd limit
 * raised to the hard one (ulimit -n in a sh that then execs). sh, taskset and the program
 * share one pid, so the pid we get is the program's.
 */
export function startProcess(name, argv, { cpus, ipc = false, env, cwd, logFile, nofile } = {}) {
  // logFile: the child's stdout+stderr (last 10-20 KB) is appended there when it exits.
  let full = argv;
  if (cpus !== undefined) full = ['taskset', '-c', String(cpus), ...full];
  if (nofile !== undefined) full = ['sh', '-c', `ulimit -n ${Number(nofile)} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"`, 'sh', ...full];
  const stdio = ['ignore', 'pipe', 'pipe'];
  if (ipc) stdio.push('ipc');
  const child = spawn(full[0], full.slice(1), { stdio, env: env ?? process.env, cwd, detached: false });
  const rec = { name, child, out: '' };
  const keep = (d) => {
    rec.out += d.toString();
    if (rec.out.length > 20000) rec.out = rec.out.slice(-10000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.on('exit', () => {
    started.delete(child.pid);
    if (logFile !== undefined && rec.out.length > 0) {
      try {
        appendFileSync(logFile, rec.out);
      } catch {
        /* the temp dir may be gone already */
      }
    }
  });
  if (child.pid !== undefined) started.set(child.pid, rec);
  return rec;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopProcess(rec, graceMs = 5000) {
  if (rec === undefined) return;
  const { child } = rec;
  const pid = child.pid;
  if (pid === undefined) return;
  const extra = rec.extraPids ? rec.extraPids() : [];
  if (child.exitCode !== null || child.signalCode !== null) {
    started.delete(pid);
    for (const p of extra) killQuiet(p, 'SIGKILL');
    return;
  }
  const gone = new Promise((r) => child.once('exit', r));
  killQuiet(pid, 'SIGTERM');
  const t = setTimeout(() => {
    killQuiet(pid, 'SIGKILL');
    for (const p of extra) killQuiet(p, 'SIGKILL');
  }, graceMs);
  await gone;
  clearTimeout(t);
  // nginx/HAProxy workers normally exit with their master; make sure.
  for (const p of extra) if (alive(p)) killQuiet(p, 'SIGKILL');
  started.delete(pid);
}

function killQuiet(pid, sig) {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** Last resort (exit, SIGINT): SIGKILL every process still recorded, by pid. */
export function killAllStartedSync() {
  for (const [pid, rec] of started) {
    const extra = rec.extraPids ? rec.extraPids() : [];
    killQuiet(pid, 'SIGKILL');
    for (const p of extra) killQuiet(p, 'SIGKILL');
  }
  started.clear();
}

// ---------------------------------------------------------------------------------------------
// network

/** A free TCP port on 127.0.0.1 (bind to 0 and release; a small race is acceptable here). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Resolve once 127.0.0.1:port accepts a TCP connection, or reject after `timeoutMs`. */
export async function waitForPort(port, timeoutMs, isAlive = () => true) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (!isAlive()) throw new Error('process exited before listening');
    const ok = await new Promise((r) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        r(true);
      });
      s.once('error', () => r(false));
    });
    if (ok) return;
    await sleep(25);
  }
  throw new Error(`nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// statistics

/**
 * Latency histogram with log buckets of 1% (values in microseconds, 0.1 µs .. ~10^8 µs), so
 * memory is fixed however many samples; percentiles are within 1%.
 */
export class Histogram {
  static BASE = Math.log(1.01);
  constructor() {
    this.counts = new Float64Array(2600);
    this.n = 0;
    this.max = 0;
    this.sum = 0;
  }
  record(us) {
    if (!(us > 0.1)) us = 0.1;
    let i = Math.floor(Math.log(us * 10) / Histogram.BASE);
    if (i >= this.counts.length) i = this.counts.length - 1;
    this.counts[i]++;
    this.n++;
    this.sum += us;
    if (us > this.max) this.max = us;
  }
  percentile(p) {
    if (this.n === 0) return NaN;
    const want = Math.ceil((p / 100) * this.n);
    let acc = 0;
    for (let i = 0; i < this.counts.length; i++) {
      acc += this.counts[i];
      if (acc >= want) return Math.exp((i + 0.5) * Histogram.BASE) / 10;
    }
    return this.max;
  }
  summary() {
    return {
      n: this.n,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      p999: this.percentile(99.9),
      max: this.max,
      mean: this.n ? this.sum / this.n : NaN,
    };
  }
}

export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// ---------------------------------------------------------------------------------------------
// WebSocket on raw sockets (cheap for the load generator: no ws parser on its side)

const KEY = randomBytes(16).toString('base64');

/**
 * Open a TCP connection and do the WebSocket upgrade by hand. Resolves with the socket, paused
 * (call resume() after attaching a 'data' listener), and any bytes that followed the 101 head.
 */
export function rawUpgrade(port, path = '/', timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.setNoDelay(true);
    let head = Buffer.alloc(0);
    const timer = setTimeout(() => fail(new Error('upgrade timeout')), timeoutMs);
    const fail = (err) => {
      clearTimeout(timer);
      sock.destroy();
      reject(err);
    };
    sock.once('error', fail);
    sock.once('connect', () => {
      sock.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    const onData = (d) => {
      head = head.length ? Buffer.concat([head, d]) : d;
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > 16384) fail(new Error('response head too large'));
        return;
      }
      sock.off('data', onData);
      sock.off('error', fail);
      // Paused until the caller attaches its own 'data' listener: in flowing mode with no
      // listener the next chunks would be dropped.
      sock.pause();
      clearTimeout(timer);
      const status = head.subarray(0, head.indexOf('\r\n')).toString();
      if (!/^HTTP\/1\.1 101/.test(status)) {
        sock.destroy();
        reject(new Error(`upgrade refused: ${status}`));
        return;
      }
      resolve({ sock, rest: head.subarray(end + 4) });
    };
    sock.on('data', onData);
  });
}

/** A masked client frame (binary by default) with a random mask key. */
export function clientFrame(payload, opcode = 0x2) {
  const len = payload.length;
  const hl = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const f = Buffer.allocUnsafe(hl + 4 + len);
  f[0] = 0x80 | opcode;
  if (len < 126) f[1] = 0x80 | len;
  else if (len < 65536) {
    f[1] = 0x80 | 126;
    f.writeUInt16BE(len, 2);
  } else {
    f[1] = 0x80 | 127;
    f.writeUInt32BE(0, 2);
    f.writeUInt32BE(len, 6);
  }
  const mask = randomBytes(4);
  mask.copy(f, hl);
  for (let i = 0; i < len; i++) f[hl + 4 + i] = payload[i] ^ mask[i & 3];
  return f;
}

/** An unmasked server frame header + payload of `size` zero-ish bytes. */
export function serverFrame(size, opcode = 0x2) {
  const hl = size < 126 ? 2 : size < 65536 ? 4 : 10;
  const f = Buffer.alloc(hl + size, 0x61);
  f[0] = 0x80 | opcode;
  if (size < 126) f[1] = size;
  else if (size < 65536) {
    f[1] = 126;
    f.writeUInt16BE(size, 2);
  } else {
    f[1] = 127;
    f.writeUInt32BE(0, 2);
    f.writeUInt32BE(size, 6);
  }
  return f;
}

/**
 * Frame reader for the load generator's sockets (server → client frames, unmasked; headers and
 * control frames may be split anywhere). Counts data frames when their last byte arrives
 * (`onData`), hands whole control frames to `onControl(opcode, payload)` (so the client can
 * answer a proxy's heartbeat pings), and never copies a data payload.
 */
export class FrameCounter {
  constructor(onData = null, onControl = null) {
    this.onData = onData;
    this.onControl = onControl;
    this.frames = 0;
    this.closes = 0;
    this.bytes = 0;
    this.remaining = 0;
    this.carry = null; // an incomplete header or control frame (rare)
  }
  push(chunk) {
    this.bytes += chunk.length;
    if (this.carry !== null) {
      chunk = Buffer.concat([this.carry, chunk]);
      this.carry = null;
    }
    const len = chunk.length;
    let pos = 0;
    if (this.remaining > 0) {
      if (len < this.remaining) {
        this.remaining -= len;
        return;
      }
      pos = this.remaining;
      this.remaining = 0;
      this.#dataEnd();
    }
    while (pos < len) {
      if (len - pos < 2) {
        this.carry = Buffer.from(chunk.subarray(pos));
        return;
      }
      const b0 = chunk[pos];
      const b1 = chunk[pos + 1];
      const l7 = b1 & 0x7f;
      const hl = 2 + (l7 === 126 ? 2 : l7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
      if (len - pos < hl) {
        this.carry = Buffer.from(chunk.subarray(pos));
        return;
      }
      const plen = l7 === 126 ? chunk.readUInt16BE(pos + 2) : l7 === 127 ? chunk.readUInt32BE(pos + 6) : l7;
      const op = b0 & 0x0f;
      if (op >= 0x8) {
        if (len - pos < hl + plen) {
          this.carry = Buffer.from(chunk.subarray(pos));
          return;
        }
        if (op === 0x8) this.closes++;
        if (this.onControl !== null) this.onControl(op, chunk.subarray(pos + hl, pos + hl + plen));
        pos += hl + plen;
        continue;
      }
      pos += hl;
      if (len - pos < plen) {
        this.remaining = plen - (len - pos);
        return;
      }
      pos += plen;
      this.#dataEnd();
    }
  }
  #dataEnd() {
    this.frames++;
    if (this.onData !== null) this.onData();
  }
}
