#!/usr/bin/env node
/**
 * wstap benchmark harness: direct vs wstap (metrics on / bare) vs nginx (default, 64k) vs
 * HAProxy, on 127.0.0.1 only, every process started and stopped by pid. See README.md here.
 *
 *   node test/bench/run.mjs [--quick] [--only pp1,pp50,...] [--targets direct,wstap,...]
 *                           [--passes N] [--json FILE] [--markdown] [--dist DIR]
 *                           [--idle N] [--rate N] [--warmup S] [--duration S]
 *                           [--prof DIR] [--wstap-node-args="..."] [--keep]
 *
 * Not part of the unit suite (vitest only runs test/**\/*.test.ts).
 */
import { parseArgs } from 'node:util';
import { mkdtempSync, rmSync, existsSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import {
  cpuOf,
  cpuSplit,
  rssOf,
  hardNofile,
  killAllStartedSync,
  median,
  nproc,
  sleep,
  startProcess,
  started as startedProcs,
  stopProcess,
  which,
} from './lib.mjs';
import { ALL_TARGETS, binaryOf, multiCore, startTarget } from './targets.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');

// ---------------------------------------------------------------------------------------------
// arguments

let parsed;
try {
  parsed = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    targets: { type: 'string' },
    passes: { type: 'string' },
    json: { type: 'string' },
    markdown: { type: 'boolean', default: false },
    dist: { type: 'string' },
    idle: { type: 'string' },
    'idle-hold': { type: 'string' },
    rate: { type: 'string' },
    warmup: { type: 'string' },
    duration: { type: 'string' },
    'wstap-node-args': { type: 'string' },
    prof: { type: 'string' },
    heartbeat: { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
} catch (err) {
  process.stderr.write(`bench: ${err.message}\n(node test/bench/run.mjs --help)\n`);
  process.exit(2);
}
const opt = parsed.values;

const SCENARIO_NAMES = ['pp1', 'pp50', 'pp500', 'open', 'flood64', 'flood16k', 'idle', 'connrate'];

if (opt.help) {
  process.stdout.write(
    [
      'Usage: node test/bench/run.mjs [options]',
      '',
      '  --quick              tiny durations and counts (smoke run, ~1 s per measurement, 1 pass)',
      `  --only LIST          scenarios, comma-separated: ${SCENARIO_NAMES.join(',')}`,
      `  --targets LIST       targets, comma-separated: ${ALL_TARGETS.join(',')}`,
      '  --passes N           passes over every scenario and target (default 3; --quick: 1)',
      '  --warmup S           warm-up seconds per measurement (default 2; --quick 0.2)',
      '  --duration S         measuring window seconds (default 8 ping-pong/open, 6 floods, 5 connrate)',
      '  --idle N             idle sessions (default: the most the fd limit allows; --quick 1000)',
      '  --idle-hold S        idle: let the proxy sit S seconds before the baseline and again after the\n                       touch, then read RSS once more (a settled process; default 0 = off)',
      '  --rate N             open-loop messages/s in total (default 10000 over 500 connections)',
      '  --json FILE          also write every raw measurement to FILE',
      '  --markdown           print the table as Markdown',
      '  --dist DIR           built wstap (default dist/; build: npx tsc -p tsconfig.build.json)',
      '  --wstap-node-args=S  extra node flags for the wstap (and node-pipe) processes (note the =), e.g. --wstap-node-args="--max-semi-space-size=16"',
      '  --heartbeat D        heartbeat.interval of the metrics-on wstap (default 30s; timeout is half of it, at most 10s)',
      '  --prof DIR           CPU-profile every wstap process (node --cpu-prof --cpu-prof-dir=DIR)',
      '  --keep               keep the temp dir (configs, logs)',
      '',
    ].join('\n'),
  );
  process.exit(0);
}

const quick = opt.quick;
const passes = Math.max(1, Number(opt.passes ?? (quick ? 1 : 3)));
const warmMs = Math.round(1000 * Number(opt.warmup ?? (quick ? 0.2 : 2)));
const durOverride = opt.duration !== undefined ? Math.round(1000 * Number(opt.duration)) : undefined;
const dur = (full) => durOverride ?? (quick ? 700 : full);
/** --idle-hold: ms the idle scenario lets the proxy settle (V8 gives memory back after ~20–40 s without allocation). */
const idleHoldMs = Math.round(1000 * Number(opt['idle-hold'] ?? 0));
/** --wstap-node-args: node flags for the Node targets (wstap and node-pipe alike). */
const nodeFlags = opt['wstap-node-args'] ? opt['wstap-node-args'].split(/\s+/).filter(Boolean) : [];
const scenarios = (opt.only ? opt.only.split(',') : SCENARIO_NAMES).map((s) => s.trim()).filter(Boolean);
for (const s of scenarios) if (!SCENARIO_NAMES.includes(s)) fail(`unknown scenario "${s}" (known: ${SCENARIO_NAMES.join(', ')})`);
let targets = (opt.targets ? opt.targets.split(',') : ALL_TARGETS).map((s) => s.trim()).filter(Boolean);
for (const t of targets) if (!ALL_TARGETS.includes(t)) fail(`unknown target "${t}" (known: ${ALL_TARGETS.join(', ')})`);

/** '30s', '500ms', '2m' or a number of ms → ms. */
function durationMs(text) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(String(text).trim());
  if (!m) fail(`bad duration "${text}" (e.g. 500ms, 2s, 1m)`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : m[2] === 'm' ? 60_000 : 1);
}

function fail(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// prerequisites

const dist = resolve(repo, opt.dist ?? 'dist');
if (targets.some((t) => t.startsWith('wstap')) && !existsSync(join(dist, 'cli.js'))) {
  fail(`${join(dist, 'cli.js')} not found: build first with  npx tsc -p tsconfig.build.json`);
}
const missing = [...new Set(targets.map(binaryOf).filter((b) => b !== null && which(b) === undefined))];
if (missing.length > 0) {
  process.stderr.write(
    `bench: ${missing.join(' and ')} not installed; skipping ${targets.filter((t) => missing.includes(binaryOf(t))).join(', ')}.\n` +
      `       install with:  apt-get install -y nginx haproxy   (the harness never uses their system services)\n`,
  );
  targets = targets.filter((t) => !missing.includes(binaryOf(t)));
}
const cores = nproc();
const canPin = which('taskset') !== undefined && cores >= 2;
const proxyCpu = String(cores - 1);
const otherCpus = cores > 2 ? `0-${cores - 2}` : '0';

// The fd limit the children get: as root `ulimit -n` can go past the hard limit; otherwise the hard one.
function childFdLimit() {
  const want = 65536;
  try {
    const got = Number(execFileSync('sh', ['-c', `ulimit -n ${want} 2>/dev/null; ulimit -n`], { encoding: 'utf8' }).trim());
    if (Number.isFinite(got) && got > 0) return Math.max(got, hardNofile());
  } catch {
    /* fall through */
  }
  return hardNofile();
}
const nofile = childFdLimit();
let ephemeral = 28000;
try {
  const [lo, hi] = execFileSync('cat', ['/proc/sys/net/ipv4/ip_local_port_range'], { encoding: 'utf8' }).trim().split(/\s+/).map(Number);
  ephemeral = hi - lo + 1;
} catch {
  /* default */
}
// A proxy holds 2 fds per session; the client and proxy→backend legs each take an ephemeral port.
const idleMax = Math.max(1, Math.min(Math.floor((nofile - 200) / 2), ephemeral - 3000));
const idleN = Number(opt.idle ?? (quick ? 1000 : idleMax));
if (idleN > idleMax) process.stderr.write(`bench: --idle ${idleN} exceeds what the fd limit (${nofile}) / port range allows (${idleMax})\n`);

const SCN = {
  pp1: { mode: 'pingpong', conns: 1, measureMs: dur(8000), what: '1 connection, 64 B closed-loop ping-pong' },
  pp50: { mode: 'pingpong', conns: 50, measureMs: dur(8000), what: '50 connections, 64 B closed loop' },
  pp500: { mode: 'pingpong', conns: 500, measureMs: dur(8000), what: '500 connections, 64 B closed loop' },
  open: {
    mode: 'open',
    conns: quick ? 50 : 500,
    rate: Number(opt.rate ?? (quick ? 2000 : 10000)),
    measureMs: dur(10000),
    what: 'fixed-rate open loop; latency from the send and from the schedule',
  },
  flood64: { mode: 'flood', size: 64, conns: 4, pinned: true, measureMs: dur(6000), what: 'backend→client 64 B frames, proxy pinned' },
  flood16k: { mode: 'flood', size: 16384, conns: 4, pinned: true, measureMs: dur(6000), what: 'backend→client 16 KiB frames, proxy pinned' },
  idle: { mode: 'idle', conns: idleN, measureMs: dur(1000), what: `${idleN} idle sessions, RSS per session` },
  connrate: { mode: 'connrate', concurrency: 50, maxSessions: quick ? 5000 : 50000, measureMs: dur(5000), what: 'open + close handshake, 50 in flight' },
};

// ---------------------------------------------------------------------------------------------
// cleanup: every child is killed by pid, also on SIGINT/SIGTERM and on any exit

let tmp;
function cleanupSync() {
  killAllStartedSync();
  if (tmp && !opt.keep) {
    try {
      rmSync(tmp, { recursive: true, force: true });
    } catch {
      /* ignore */
    }
  }
}
process.on('exit', cleanupSync);
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (interrupted) {
      cleanupSync();
      process.exit(130);
    }
    interrupted = true;
    process.stderr.write(`\nbench: ${sig}: stopping every process started (by pid)\n`);
    // SIGTERM first so that nginx's master reaps its worker; SIGKILL whatever is left after 2 s.
    const recs = [...startedProcs.values()];
    void Promise.race([Promise.all(recs.map((r) => stopProcess(r, 1500))), sleep(2000)]).finally(() => {
      cleanupSync();
      process.exit(130);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// IPC helpers

function mailbox(rec) {
  const box = { queue: [], waiters: [], exited: false };
  rec.child.on('message', (m) => {
    box.queue.push(m);
    box.waiters.splice(0).forEach((w) => w());
  });
  rec.child.on('exit', () => {
    box.exited = true;
    box.waiters.splice(0).forEach((w) => w());
  });
  /** Next message with `ev`; 'error'/'warn' messages are surfaced. */
  box.next = async (ev, timeoutMs) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const i = box.queue.findIndex((m) => m.ev === ev || m.ev === 'error');
      if (i >= 0) {
        const [m] = box.queue.splice(i, 1);
        if (m.ev === 'error') throw new Error(`${rec.name}: ${m.message}`);
        return m;
      }
      for (const w of box.queue.filter((m) => m.ev === 'warn')) process.stderr.write(`  ${rec.name}: ${w.message}\n`);
      box.queue = box.queue.filter((m) => m.ev !== 'warn');
      if (box.exited) throw new Error(`${rec.name} exited before "${ev}"${rec.out ? `: ${rec.out.slice(-1500)}` : ''}`);
      const left = until - Date.now();
      if (left <= 0) throw new Error(`${rec.name}: no "${ev}" within ${timeoutMs} ms`);
      await new Promise((r) => {
        const t = setTimeout(r, left);
        box.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  };
  return box;
}

// ---------------------------------------------------------------------------------------------
// one measurement

async function runOne(scnName, target) {
  const scn = SCN[scnName];
  const pin = scn.pinned && canPin && !multiCore(target);
  const sessions = scn.mode === 'idle' ? scn.conns : scn.mode === 'open' || scn.mode === 'pingpong' ? scn.conns : 1000;
  const maxMs = warmMs + scn.measureMs + 60_000 + (scn.mode === 'idle' ? 2 * idleHoldMs : 0);
  let backend;
  let tgt;
  let loader;
  const check = () => {
    if (interrupted) throw new Error('interrupted');
  };
  try {
    check();
    backend = startProcess('backend', [process.execPath, join(here, 'backend.mjs'), JSON.stringify({ maxMs: maxMs + 30_000 })], {
      ipc: true,
      cpus: pin ? otherCpus : undefined,
      nofile,
    });
    const bbox = mailbox(backend);
    const { port: backendPort } = await bbox.next('listening', 10_000);
    check();
    tgt = await startTarget(target, backendPort, {
      dir: tmp,
      dist,
      cpus: pin ? proxyCpu : undefined,
      nofile,
      sessions,
      heartbeat: opt.heartbeat,
      heartbeatTimeout: opt.heartbeat ? `${Math.min(10_000, Math.max(1, Math.floor(durationMs(opt.heartbeat) / 2)))}ms` : undefined,
      nodeArgs: nodeFlags,
      profArgs: opt.prof ? ['--cpu-prof', `--cpu-prof-dir=${resolve(opt.prof)}`] : [],
      maxMs: maxMs + 30_000,
    });
    await sleep(quick ? 100 : 500);
    check();
    const lcfg = { ...scn, mode: scn.mode, port: tgt.port, warmMs, measureMs: scn.measureMs, maxMs };
    loader = startProcess('loadgen', [process.execPath, join(here, 'loadgen.mjs'), JSON.stringify(lcfg)], {
      ipc: true,
      cpus: pin ? otherCpus : undefined,
      nofile,
      logFile: join(tmp, 'loadgen.log'),
    });
    const lbox = mailbox(loader);
    const proxyPids = tgt.pids();
    const cpuNow = () => ({
      proxy: cpuOf(tgt.pids()),
      proxyUser: tgt.pids().reduce((a, p) => a + cpuSplit(p).user, 0),
      backend: cpuOf([backend.child.pid]),
      loader: cpuOf([loader.child.pid]),
    });

    if (scn.mode === 'idle') {
      const memPids = target === 'direct' ? [backend.child.pid] : tgt.pids();
      // With --idle-hold the baseline is a process that has sat idle as long as the sessions
      // will: Node gives back heap it grew at start-up only after a while without allocation.
      if (idleHoldMs > 0) await sleep(idleHoldMs);
      const rss0 = rssOf(memPids);
      loader.child.send({ cmd: 'open' });
      const opened = await lbox.next('opened', maxMs);
      // CPU while the sessions sit idle: with wstap that is the heartbeats (and nothing else).
      const idleCpu0 = cpuOf(memPids);
      const idleT0 = performance.now();
      await sleep(scn.measureMs);
      const idleCpuPct = ((cpuOf(memPids) - idleCpu0) / ((performance.now() - idleT0) / 1000)) * 100;
      const rss1 = rssOf(memPids);
      loader.child.send({ cmd: 'touch' });
      const touched = await lbox.next('touched', maxMs);
      await sleep(scn.measureMs);
      const rss2 = rssOf(memPids);
      let rss3;
      if (idleHoldMs > 0) {
        await sleep(idleHoldMs);
        rss3 = rssOf(memPids);
      }
      loader.child.send({ cmd: 'close' });
      await lbox.next('closed', 15_000);
      const n = opened.opened;
      return {
        sessions: n,
        openPerS: n / (opened.openMs / 1000),
        kbPerSession: (rss1 - rss0) / n,
        idleCpuPct,
        kbPerSessionTouched: (rss2 - rss0) / n,
        ...(rss3 !== undefined ? { kbPerSessionSettled: (rss3 - rss0) / n, rssSettledKiB: rss3 } : {}),
        rssBeforeKiB: rss0,
        rssIdleKiB: rss1,
        rssTouchedKiB: rss2,
        missing: touched.missing,
        errors: touched.errors,
        memOf: target === 'direct' ? 'backend (ws server)' : 'proxy',
      };
    }

    await lbox.next('start', maxMs);
    const c0 = cpuNow();
    const { result: r } = await lbox.next('end', maxMs);
    const c1 = cpuNow();
    const cpu = { proxy: c1.proxy - c0.proxy, backend: c1.backend - c0.backend, loader: c1.loader - c0.loader };
    const w = r.windowS;
    const base = {
      windowS: w,
      errors: r.errors,
      proxyCpuPct: (100 * cpu.proxy) / w,
      // user-space share of the proxy's CPU (the rest is kernel: syscalls, loopback TCP)
      proxyUserShare: cpu.proxy > 0 ? (c1.proxyUser - c0.proxyUser) / cpu.proxy : NaN,
      proxyUserPct: cpu.proxy > 0 ? (100 * (c1.proxyUser - c0.proxyUser)) / cpu.proxy : NaN,
      backendCpuPct: (100 * cpu.backend) / w,
      loaderCpuPct: (100 * cpu.loader) / w,
      proxyPids: proxyPids.length,
    };
    if (scn.mode === 'pingpong' || scn.mode === 'open') {
      return {
        ...base,
        count: r.count,
        perS: r.count / w,
        p50: r.latency.p50,
        p99: r.latency.p99,
        p999: r.latency.p999,
        max: r.latency.max,
        cpuUsPerRt: r.count > 0 ? (cpu.proxy * 1e6) / r.count : NaN,
        ...(scn.mode === 'open'
          ? { sent: r.sent, lost: r.lost, dropped: r.dropped, rate: r.rate, schedP50: r.fromSchedule.p50, schedP99: r.fromSchedule.p99 }
          : {}),
      };
    }
    if (scn.mode === 'flood') {
      return {
        ...base,
        bytes: r.bytes,
        MBps: r.bytes / 1e6 / w,
        framesPerS: r.frames / w,
        coreSecPerGB: r.bytes > 0 ? cpu.proxy / (r.bytes / 1e9) : NaN,
        pinned: pin,
      };
    }
    if (scn.mode === 'connrate') {
      return {
        ...base,
        count: r.count,
        perS: r.count / w,
        p50: r.latency.p50,
        p99: r.latency.p99,
        cpuUsPerSession: r.count > 0 ? (cpu.proxy * 1e6) / r.count : NaN,
        capped: r.capped,
      };
    }
    throw new Error(`mode ${scn.mode}`);
  } finally {
    await stopProcess(loader, 3000);
    if (tgt?.rec) await stopProcess(tgt.rec, 5000);
    await stopProcess(backend, 3000);
  }
}

// ---------------------------------------------------------------------------------------------
// the table

const ROWS = [
  ['pp1', 'p50 RTT µs', 'p50', 'lower'],
  ['pp1', 'p99 RTT µs', 'p99', 'lower'],
  ['pp1', 'round trips/s', 'perS', 'higher'],
  ['pp1', 'proxy CPU µs/round trip', 'cpuUsPerRt', 'lower', true],
  ['pp50', 'round trips/s', 'perS', 'higher'],
  ['pp50', 'p99 RTT µs', 'p99', 'lower'],
  ['pp50', 'proxy CPU µs/round trip', 'cpuUsPerRt', 'lower', true],
  ['pp50', 'proxy CPU %', 'proxyCpuPct', 'info', true],
  ['pp50', 'proxy CPU in user space %', 'proxyUserPct', 'info', true],
  ['pp500', 'round trips/s', 'perS', 'higher'],
  ['pp500', 'p99 RTT µs', 'p99', 'lower'],
  ['pp500', 'proxy CPU µs/round trip', 'cpuUsPerRt', 'lower', true],
  ['pp500', 'proxy CPU %', 'proxyCpuPct', 'info', true],
  ['open', 'achieved msgs/s', 'perS', 'higher'],
  ['open', 'p50 latency µs', 'p50', 'lower'],
  ['open', 'p99 latency µs', 'p99', 'lower'],
  ['open', 'max latency µs', 'max', 'lower'],
  ['open', 'p99 from schedule µs', 'schedP99', 'lower'],
  ['open', 'proxy CPU µs/round trip', 'cpuUsPerRt', 'lower', true],
  ['flood64', 'MB/s', 'MBps', 'higher'],
  ['flood64', 'proxy core-s/GB', 'coreSecPerGB', 'lower', true],
  ['flood64', 'proxy CPU %', 'proxyCpuPct', 'info', true],
  ['flood64', 'proxy CPU in user space %', 'proxyUserPct', 'info', true],
  ['flood16k', 'MB/s', 'MBps', 'higher'],
  ['flood16k', 'proxy core-s/GB', 'coreSecPerGB', 'lower', true],
  ['flood16k', 'proxy CPU %', 'proxyCpuPct', 'info', true],
  ['idle', 'sessions held', 'sessions', 'info'],
  ['idle', 'KB/session, untouched', 'kbPerSession', 'lower'],
  ['idle', 'KB/session, after 1 msg', 'kbPerSessionTouched', 'lower'],
  ...(idleHoldMs > 0 ? [['idle', `KB/session, then ${idleHoldMs / 1000} s idle`, 'kbPerSessionSettled', 'lower']] : []),
  ['idle', 'CPU % while idle (heartbeats)', 'idleCpuPct', 'lower'],
  ['idle', 'sessions opened/s (200 in flight)', 'openPerS', 'higher'],
  ['connrate', 'new sessions/s', 'perS', 'higher'],
  ['connrate', 'handshake p99 µs', 'p99', 'lower'],
  ['connrate', 'proxy CPU µs/session', 'cpuUsPerSession', 'lower', true],
];

const RATIOS = [
  ['wstap', 'nginx', 'wstap/ngx'],
  ['wstap', 'nginx-64k', 'wstap/ngx64'],
  ['wstap', 'haproxy', 'wstap/hap'],
  ['wstap-bare', 'nginx', 'bare/ngx'],
  ['wstap-bare', 'nginx-64k', 'bare/ngx64'],
  ['wstap-bare', 'haproxy', 'bare/hap'],
  ['wstap', 'wstap-bare', 'on/bare'],
  ['wstap', 'node-pipe', 'wstap/pipe'],
  ['node-pipe', 'nginx', 'pipe/ngx'],
  ['node-pipe', 'nginx-64k', 'pipe/ngx64'],
  ['wstap-2w', 'wstap', '2w/1w'],
];

function fmt(v) {
  if (v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${(v / 1e3).toPrecision(3)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

function table(results) {
  const cols = targets;
  const ratioCols = RATIOS.filter(([a, b]) => cols.includes(a) && cols.includes(b));
  const header = ['scenario', 'metric', ...cols.map((c) => `${c} med (min–max)`), ...ratioCols.map((r) => r[2])];
  const lines = [];
  for (const [scn, label, key, better, proxyOnly] of ROWS) {
    if (!scenarios.includes(scn)) continue;
    const arrow = better === 'higher' ? ' ↑' : better === 'lower' ? ' ↓' : '';
    const meds = {};
    const cells = cols.map((t) => {
      if (proxyOnly && t === 'direct') return '–';
      const xs = (results[scn]?.[t] ?? []).map((r) => r?.[key]).filter((x) => Number.isFinite(x));
      if (xs.length === 0) return 'n/a';
      const m = median(xs);
      meds[t] = m;
      const lo = Math.min(...xs);
      const hi = Math.max(...xs);
      return xs.length === 1 ? `${fmt(m)} (n=1)` : `${fmt(m)} (${fmt(lo)}–${fmt(hi)})`;
    });
    const ratios = ratioCols.map(([a, b]) => (meds[a] !== undefined && meds[b] ? (meds[a] / meds[b]).toFixed(2) : '–'));
    lines.push([scn, label + arrow, ...cells, ...ratios]);
  }
  if (opt.markdown) {
    const row = (r) => `| ${r.join(' | ')} |`;
    return [row(header), row(header.map((_, i) => (i < 2 ? '---' : '---:'))), ...lines.map(row)].join('\n');
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const pad = (r) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const out = [pad(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  let last = '';
  for (const l of lines) {
    out.push(pad(l[0] === last ? ['', ...l.slice(1)] : l));
    last = l[0];
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// main

function versionOf(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0].trim();
  } catch (e) {
    return (e.stderr?.toString() ?? '').split('\n')[0].trim() || 'unknown';
  }
}

async function main() {
  tmp = mkdtempSync(join(tmpdir(), 'wstap-bench-'));
  const started = Date.now();
  const la = loadavg()[0];
  const env = {
    node: process.version,
    cores,
    pinning: canPin ? `proxy on CPU ${proxyCpu}, backend + load generator on CPU ${otherCpus} (floods only; wstap-2w never)` : 'off (taskset missing or 1 core)',
    nofile,
    idleSessions: idleN,
    nginx: targets.some((t) => t.startsWith('nginx')) ? versionOf(which('nginx'), ['-v']) : undefined,
    haproxy: targets.includes('haproxy') ? versionOf(which('haproxy'), ['-v']) : undefined,
    loadavg1: la,
    quick,
    passes,
    warmMs,
  };
  process.stderr.write(
    `wstap bench: ${scenarios.join(', ')} × ${targets.join(', ')} × ${passes} pass(es)${quick ? ' [--quick]' : ''}\n` +
      `  node ${env.node}, ${cores} cores, fd limit ${nofile}, pinning: ${env.pinning}\n` +
      (env.nginx ? `  ${env.nginx}\n` : '') +
      (env.haproxy ? `  ${env.haproxy}\n` : '') +
      `  temp dir ${tmp}\n` +
      (la > 0.5 ? `  note: load average ${la.toFixed(2)} — the machine is busy, numbers will be noisy\n` : ''),
  );

  const results = {};
  const raw = [];
  for (let p = 0; p < passes; p++) {
    for (const scn of scenarios) {
      // Rotate the target order each pass, and reverse it every other pass.
      let order = targets.slice(p % targets.length).concat(targets.slice(0, p % targets.length));
      if (p % 2 === 1) order = order.reverse();
      for (const t of order) {
        if (interrupted) return 130;
        const t0 = Date.now();
        let r;
        try {
          r = await runOne(scn, t);
        } catch (err) {
          process.stderr.write(`  pass ${p + 1} ${scn} ${t}: FAILED: ${String(err.message ?? err).split('\n').slice(0, 6).join('\n    ')}\n`);
          r = { failed: String(err.message ?? err) };
        }
        ((results[scn] ??= {})[t] ??= []).push(r);
        raw.push({ pass: p + 1, scenario: scn, target: t, ...r });
        if (!r.failed) process.stderr.write(`  pass ${p + 1} ${scn.padEnd(8)} ${t.padEnd(10)} ${summary(scn, r)}  (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
      }
    }
  }
  const took = (Date.now() - started) / 1000;
  process.stdout.write(
    `\nwstap benchmark — ${new Date().toISOString()} — ${passes} pass(es), ${took.toFixed(0)} s${quick ? ', --quick (smoke: tiny windows, numbers are noise)' : ''}\n` +
      `↑ higher is better, ↓ lower is better; ratios are of medians (A/B). Proxy CPU from /proc/<pid>/stat utime+stime.\n\n`,
  );
  process.stdout.write(`${table(results)}\n`);
  if (opt.json) {
    mkdirSync(dirname(resolve(opt.json)), { recursive: true });
    writeFileSync(resolve(opt.json), JSON.stringify({ env, scenarios: SCN, results: raw }, null, 2));
    process.stderr.write(`raw results: ${resolve(opt.json)}\n`);
  }
  const failures = raw.filter((r) => r.failed).length;
  if (failures) process.stderr.write(`${failures} measurement(s) failed (see above)\n`);
  return failures ? 1 : 0;
}

function summary(scn, r) {
  const m = SCN[scn].mode;
  if (m === 'pingpong' || m === 'open')
    return `${fmt(r.perS)}/s p50 ${fmt(r.p50)} µs p99 ${fmt(r.p99)} µs, proxy ${fmt(r.proxyCpuPct)}% (user ${fmt(100 * r.proxyUserShare)}%) ${fmt(r.cpuUsPerRt)} µs/rt, backend ${fmt(r.backendCpuPct)}%, loadgen ${fmt(r.loaderCpuPct)}%${r.errors ? `, ${r.errors} errors` : ''}${r.lost ? `, ${r.lost} lost` : ''}${m === 'open' ? `, p99 from schedule ${fmt(r.schedP99)} µs` : ''}`;
  if (m === 'flood') return `${fmt(r.MBps)} MB/s, ${fmt(r.framesPerS)} frames/s, proxy ${fmt(r.proxyCpuPct)}% ${fmt(r.coreSecPerGB)} core-s/GB${r.errors ? `, ${r.errors} errors` : ''}`;
  if (m === 'idle') return `${r.sessions} sessions (${r.memOf}) ${fmt(r.kbPerSession)} KB/session, ${fmt(r.kbPerSessionTouched)} after 1 msg, ${r.kbPerSessionSettled !== undefined ? `${fmt(r.kbPerSessionSettled)} settled, ` : ''}${fmt(r.openPerS)} opened/s${r.missing ? `, ${r.missing} echoes missing` : ''}`;
  if (m === 'connrate') return `${fmt(r.perS)} sessions/s, handshake p50 ${fmt(r.p50)} µs p99 ${fmt(r.p99)} µs, proxy ${fmt(r.cpuUsPerSession)} µs/session${r.errors ? `, ${r.errors} errors` : ''}`;
  return '';
}

let code = 1;
try {
  code = await main();
} finally {
  killAllStartedSync();
}
process.exit(code);
