/**
 * The proxies under test, each configured in the run's temp dir and started as a foreground
 * process on 127.0.0.1 (never the system services):
 *
 *   direct      no proxy: the load generator talks to the backend
 *   wstap       dist/cli.js serve, metrics on (Prometheus reader, /status), heartbeats on
 *               (30 s, the default; run.mjs --heartbeat changes it)
 *   wstap-bare  dist/cli.js serve, telemetry.prometheus false, no otlp, heartbeat.interval 0
 *   wstap-2w    as wstap, with workers: 2 (a primary and two worker processes; never pinned,
 *               CPU and RSS summed over all three)
 *   nginx       nginx -c, worker_processes 1, default buffers (proxy_buffer_size 4k)
 *   nginx-64k   the same with proxy_buffer_size 64k (the fair peer for bulk streams)
 *   haproxy     haproxy -f -db, nbthread 1, mode http, timeout tunnel
 *   node-pipe   node-pipe.mjs: a plain Node passthrough (forward the request head, then
 *               stream.pipe both ways, nothing parsed): what any Node relay pays
 *
 * All single-threaded (one worker / one thread / one event loop), like for like on 2 cores,
 * except wstap-2w, which is there to show what a second core buys.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { childrenOf, freePort, startProcess, waitForPort, which, alive } from './lib.mjs';

export const ALL_TARGETS = ['direct', 'wstap', 'wstap-bare', 'wstap-2w', 'nginx', 'nginx-64k', 'haproxy', 'node-pipe'];

/** Targets that run on more than one core: never pinned to one. */
export function multiCore(target) {
  return target === 'wstap-2w';
}

/** Which binary each target needs; null when it needs none beyond node. */
export function binaryOf(target) {
  if (target.startsWith('nginx')) return 'nginx';
  if (target === 'haproxy') return 'haproxy';
  return null;
}

/**
 * Start `target` in front of the backend on `backendPort`.
 * Returns { port, rec, pids() } — pids() lists every process whose CPU/RSS counts as the proxy's.
 * ctx: { dir, dist, cpus, nofile, sessions, nodeArgs, profArgs, maxMs, heartbeat, heartbeatTimeout }
 * (nodeArgs: node flags for every Node target; profArgs: profiling flags, for wstap only)
 */
export async function startTarget(target, backendPort, ctx) {
  if (target === 'direct') return { port: backendPort, rec: undefined, pids: () => [] };
  const port = await freePort();
  const dir = ctx.dir;
  const maxSessions = Math.max(1000, ctx.sessions ?? 0);
  let rec;
  if (target === 'wstap' || target === 'wstap-bare' || target === 'wstap-2w') {
    const on = target !== 'wstap-bare';
    const adminPort = await freePort();
    const file = join(dir, `${target}.yaml`);
    writeFileSync(
      file,
      [
        `# written by test/bench/run.mjs`,
        `listen: { host: 127.0.0.1, port: ${port} }`,
        `admin: { enabled: true, host: 127.0.0.1, port: ${adminPort} }`,
        `backends:`,
        `  bench:`,
        `    balance: round-robin`,
        `    servers:`,
        `      - { id: bench-1, url: "ws://127.0.0.1:${backendPort}" }`,
        `routes:`,
        `  - { name: bench, match: { path: / }, backend: bench }`,
        on ? `heartbeat: { interval: ${ctx.heartbeat ?? '30s'}, timeout: ${ctx.heartbeatTimeout ?? '10s'} }` : `heartbeat: { interval: 0 }`,
        `timeouts: { drain: 1s, close: 2s }`,
        `telemetry:`,
        `  service_name: wstap-bench`,
        `  prometheus: ${on}`,
        `log: { level: warn, format: json }`,
        ...(target === 'wstap-2w' ? [`workers: 2`] : []),
        '',
      ].join('\n'),
    );
    // The environment must not turn OTLP on behind our back.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
    rec = startProcess(target, [process.execPath, ...(ctx.nodeArgs ?? []), ...(ctx.profArgs ?? []), join(ctx.dist, 'cli.js'), 'serve', '--config', file], {
      cpus: ctx.cpus,
      nofile: ctx.nofile,
      env,
      logFile: join(dir, `${target}.log`),
    });
    if (target === 'wstap-2w') {
      const primary = rec.child.pid;
      rec.extraPids = () => childrenOf(primary);
    }
  } else if (target === 'nginx' || target === 'nginx-64k') {
    const prefix = join(dir, `${target}-prefix`);
    const conf = join(dir, `${target}.conf`);
    const workerConnections = Math.max(4096, Math.ceil(2.2 * maxSessions));
    writeFileSync(
      conf,
      [
        `# written by test/bench/run.mjs`,
        `daemon off;`,
        `master_process on;`,
        `worker_processes 1;`,
        `worker_rlimit_nofile ${ctx.nofile ?? 65536};`,
        `pid ${dir}/${target}.pid;`,
        `error_log ${dir}/${target}-error.log warn;`,
        `events { worker_connections ${workerConnections}; }`,
        `http {`,
        `  access_log off;`,
        `  client_body_temp_path ${dir}/${target}-body;`,
        `  proxy_temp_path ${dir}/${target}-proxy;`,
        `  fastcgi_temp_path ${dir}/${target}-fastcgi;`,
        `  uwsgi_temp_path ${dir}/${target}-uwsgi;`,
        `  scgi_temp_path ${dir}/${target}-scgi;`,
        `  server {`,
        `    listen 127.0.0.1:${port};`,
        `    location / {`,
        `      proxy_pass http://127.0.0.1:${backendPort};`,
        `      proxy_http_version 1.1;`,
        `      proxy_set_header Upgrade $http_upgrade;`,
        `      proxy_set_header Connection "upgrade";`,
        `      proxy_read_timeout 1h;`,
        `      proxy_send_timeout 1h;`,
        // An upgraded connection is relayed through one proxy_buffer_size buffer per direction
        // (4k by default). proxy_buffers only serves buffered HTTP responses; it is raised
        // because nginx insists that proxy_busy_buffers_size (2 × 64k) fit inside it.
        ...(target === 'nginx-64k'
          ? [`      proxy_buffer_size 64k;`, `      proxy_buffers 4 64k;`]
          : [`      # proxy_buffer_size: default (4k)`]),
        `    }`,
        `  }`,
        `}`,
        '',
      ].join('\n'),
    );
    rec = startProcess(target, [which('nginx') ?? 'nginx', '-p', `${prefix}/`, '-c', conf, '-e', join(dir, `${target}-error.log`)], {
      cpus: ctx.cpus,
      nofile: ctx.nofile,
      logFile: join(dir, `${target}.log`),
    });
    const master = rec.child.pid;
    rec.extraPids = () => childrenOf(master);
  } else if (target === 'haproxy') {
    const cfg = join(dir, 'haproxy.cfg');
    // HAProxy needs 2 fds per connection plus a few and refuses to start past the fd limit.
    const maxconn = Math.min(maxSessions + 100, Math.floor(((ctx.nofile ?? 65536) - 60) / 2));
    writeFileSync(
      cfg,
      [
        `# written by test/bench/run.mjs`,
        `global`,
        `  nbthread 1`,
        `  maxconn ${maxconn}`,
        `  pidfile ${dir}/haproxy.pid`,
        `defaults`,
        `  mode http`,
        `  timeout connect 5s`,
        `  timeout client 1h`,
        `  timeout server 1h`,
        `  timeout tunnel 1h`,
        `  timeout http-request 10s`,
        `frontend fe`,
        `  bind 127.0.0.1:${port}`,
        `  maxconn ${maxconn}`,
        `  default_backend be`,
        `backend be`,
        `  server s1 127.0.0.1:${backendPort} maxconn ${maxconn}`,
        '',
      ].join('\n'),
    );
    rec = startProcess(target, [which('haproxy') ?? 'haproxy', '-f', cfg, '-db'], {
      cpus: ctx.cpus,
      nofile: ctx.nofile,
      logFile: join(dir, 'haproxy.log'),
    });
  } else if (target === 'node-pipe') {
    // The same Node flags as wstap (--wstap-node-args), for a like-for-like comparison; never
    // profiled (--prof is for wstap's code).
    const args = JSON.stringify({ port, backendPort, maxMs: ctx.maxMs });
    rec = startProcess(target, [process.execPath, ...(ctx.nodeArgs ?? []), fileURLToPath(new URL('node-pipe.mjs', import.meta.url)), args], {
      cpus: ctx.cpus,
      nofile: ctx.nofile,
      logFile: join(dir, `${target}.log`),
    });
  } else {
    throw new Error(`unknown target ${target}`);
  }
  const pid = rec.child.pid;
  try {
    await waitForPort(port, 15000, () => alive(pid));
  } catch (err) {
    throw new Error(`${target} did not start: ${err.message}\n${rec.out.slice(-2000)}`);
  }
  const pids = () => (rec.extraPids ? [pid, ...rec.extraPids()] : [pid]);
  return { port, rec, pids };
}
