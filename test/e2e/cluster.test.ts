/**
 * `workers: 2` end to end: the real CLI forks two workers that share the listener; the primary's
 * admin server shows them as one proxy (/status adds up sessions and close codes, /metrics
 * carries every worker's series with a `worker` label and stays valid exposition text);
 * affinity holds whichever worker takes a connection; a killed worker is restarted while the
 * other's sessions carry on; SIGHUP reaches every worker; SIGTERM drains them all, exit 0.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { closed, connect, nextMessage } from '../helpers/proxy.js';
import { trackedBackend, type TrackedBackend } from '../helpers/backends.js';
import { buildOnce, freePort, killChildren, serve, tempDir, type Served } from '../helpers/cli.js';
import { tcpConnect } from '../helpers/raw.js';

let backends: TrackedBackend[];
let tmp: ReturnType<typeof tempDir>;
const clients = new Set<WebSocket>();
const running = new Set<Served>();

beforeAll(async () => {
  await buildOnce();
  backends = await Promise.all([trackedBackend(), trackedBackend(), trackedBackend()]);
  tmp = tempDir();
}, 120_000);

afterAll(async () => {
  await Promise.all(backends.map((b) => b.close()));
  tmp?.remove();
});

afterEach(async () => {
  for (const ws of clients) ws.terminate();
  clients.clear();
  // SIGTERM first: a SIGKILLed primary would leave its workers to notice the lost channel.
  for (const s of running) {
    if (s.child.exitCode === null && s.child.signalCode === null) {
      s.child.kill('SIGTERM');
      await s.exited;
    }
  }
  running.clear();
  await killChildren();
});

const A = (): TrackedBackend => backends[0]!;
const B = (): TrackedBackend => backends[1]!;

function yaml(pool: string, extra = ''): (port: number, adminPort: number) => string {
  return (port, adminPort) => `
listen: { host: 127.0.0.1, port: ${port} }
admin: { host: 127.0.0.1, port: ${adminPort} }
workers: 2
backends:
${pool}
routes:
  - { name: all, match: { path: / }, backend: main }
heartbeat: { interval: 0 }
timeouts: { drain: 300ms }
log: { level: info }
${extra}
`;
}

const onePool = (b: TrackedBackend): string => `  main: { servers: [{ id: one, url: "${b.url}" }] }`;

async function start(make: (port: number, adminPort: number) => string): Promise<Served> {
  const s = await serve(tmp.file(`cluster-${Date.now()}-${Math.random().toString(36).slice(2)}.yaml`), make, 20_000);
  running.add(s);
  return s;
}

async function open(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  const ws = await connect(url, undefined, { headers });
  clients.add(ws);
  return ws;
}

async function echoes(ws: WebSocket, text: string): Promise<void> {
  const m = nextMessage(ws);
  ws.send(text);
  expect((await m).data.toString()).toBe(text);
}

interface Status {
  active_sessions: number;
  total_closes: number;
  codes: Record<string, number>;
  by_initiator: Record<string, Record<string, number>>;
  ready: boolean;
  backends: { id: string; up: boolean; active_sessions: number }[];
  workers: { index: number; pid: number; responding: boolean; active_sessions: number; restarts: number }[];
}

async function status(s: Served): Promise<Status> {
  const res = await fetch(`${s.admin}/status`);
  expect(res.status).toBe(200);
  return (await res.json()) as Status;
}

/** Ask /status until `cond` holds (the workers see closes a moment after the clients do). */
async function statusUntil(s: Served, cond: (st: Status) => boolean, what: string): Promise<Status> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const st = await status(s);
    if (cond(st)) return st;
    if (Date.now() > deadline) throw new Error(`timed out waiting for /status: ${what}; last: ${JSON.stringify(st)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Open sessions until both workers hold at least one (the primary deals connections round-robin). */
async function onBothWorkers(s: Served, n: number): Promise<WebSocket[]> {
  const list: WebSocket[] = [];
  for (let i = 0; i < n; i++) list.push(await open(s.url));
  const st = await statusUntil(s, (x) => x.active_sessions === n, `${n} sessions`);
  expect(st.workers.map((w) => w.active_sessions > 0)).toEqual([true, true]);
  return list;
}

describe('workers: 2', () => {
  it('shares one listener across two processes and reports them as one proxy', async () => {
    const s = await start(yaml(onePool(A())));
    expect(s.lines.find((l) => l.msg === 'wstap listening')?.workers).toBe(2);

    const list = await onBothWorkers(s, 10);
    let st = await status(s);
    expect(st.workers).toHaveLength(2);
    const pids = st.workers.map((w) => w.pid);
    expect(new Set([...pids, s.child.pid]).size).toBe(3);
    expect(st.workers.every((w) => w.responding && w.restarts === 0)).toBe(true);
    expect(st.workers[0]!.active_sessions + st.workers[1]!.active_sessions).toBe(10);
    expect(st.backends).toEqual([{ pool: 'main', id: 'one', up: true, active_sessions: 10 }]);
    expect(st.ready).toBe(true);
    expect((await fetch(`${s.admin}/readyz`)).status).toBe(200);

    for (const ws of list) for (let i = 0; i < 3; i++) await echoes(ws, `m${i}`);
    await Promise.all(list.map((ws) => {
      const c = closed(ws);
      ws.close(4001, 'bye');
      return c;
    }));
    st = await statusUntil(s, (x) => x.total_closes === 10, '10 closes');
    expect(st.codes).toEqual({ 4001: 10 });
    expect(st.by_initiator.client).toEqual({ 4001: 10 });
    expect(st.active_sessions).toBe(0);

    const res = await fetch(`${s.admin}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    // One family header, both workers' series under it.
    expect(text.match(/^# TYPE wstap_messages_total counter$/gm)).toHaveLength(1);
    const messages = [...text.matchAll(/^wstap_messages_total\{(.*)\} (\d+)$/gm)];
    const byWorker = new Map<string, number>();
    for (const [, labels, n] of messages) {
      if (!labels!.includes('wstap_direction="client_to_backend"')) continue;
      const w = /worker="(\d+)"/.exec(labels!)![1]!;
      byWorker.set(w, (byWorker.get(w) ?? 0) + Number(n));
    }
    expect([...byWorker.keys()].sort()).toEqual(['0', '1']);
    expect([...byWorker.values()].reduce((a, b) => a + b, 0)).toBe(30);
    // Two service.instance.id values: one per worker process.
    const instances = new Set([...text.matchAll(/^target_info\{.*service_instance_id="([^"]+)".*$/gm)].map((m) => m[1]));
    expect(instances.size).toBe(2);
    if (onPath('promtool')) {
      const file = tmp.file('metrics.txt');
      writeFileSync(file, text);
      // Lint warnings (naming) go to stdout with exit 0 in Debian's promtool; a parse error exits 1.
      execFileSync('sh', ['-c', `promtool check metrics < ${file}`], { stdio: 'pipe' });
    }
  }, 60_000);

  it('keeps a sticky key on one backend whichever worker takes the connection', async () => {
    const pool = `  main:
    balance: round-robin
    affinity: { key: "header:x-user" }
    servers:
${backends.map((b, i) => `      - { id: b${i}, url: "${b.url}" }`).join('\n')}`;
    const s = await start(yaml(pool));
    const before = backends.map((b) => b.requests.length);
    const list: WebSocket[] = [];
    for (let i = 0; i < 12; i++) list.push(await open(s.url, { 'x-user': 'alice' }));
    const st = await statusUntil(s, (x) => x.active_sessions === 12, '12 sessions');
    expect(st.workers.map((w) => w.active_sessions > 0)).toEqual([true, true]);
    const got = backends.map((b, i) => b.requests.length - before[i]!);
    expect(got.filter((n) => n > 0)).toEqual([12]);
    // Without the key, round-robin spreads them (so the test above could fail).
    const spread: WebSocket[] = [];
    for (let i = 0; i < 12; i++) spread.push(await open(s.url));
    const after = backends.map((b, i) => b.requests.length - before[i]! - got[i]!);
    expect(after.filter((n) => n > 0).length).toBeGreaterThan(1);
  }, 60_000);

  it('restarts a killed worker; the other worker’s sessions carry on', async () => {
    const s = await start(yaml(onePool(A())));
    const list = await onBothWorkers(s, 6);
    const st = await status(s);
    const victim = st.workers[0]!;
    const restarted = s.nextLog((l) => l.msg === 'worker restarted and listening' && l.worker === 0, 'worker 0 restarted', 15_000);
    process.kill(victim.pid, 'SIGKILL');
    await restarted;
    // Sessions of the dead worker ended without a close frame; the survivor's still echo.
    const results = await Promise.all(
      list.map(async (ws) => {
        if (ws.readyState !== WebSocket.OPEN) return 'gone';
        try {
          await echoes(ws, 'still here');
          return 'alive';
        } catch {
          return 'gone';
        }
      }),
    );
    expect(results.filter((r) => r === 'alive').length).toBe(st.workers[1]!.active_sessions);
    const now = await statusUntil(s, (x) => x.workers[0]!.responding, 'worker 0 answering');
    expect(now.workers[0]!.restarts).toBe(1);
    expect(now.workers[0]!.pid).not.toBe(victim.pid);
    expect(now.workers[1]!.pid).toBe(st.workers[1]!.pid);
    // The new worker takes sessions again.
    const alive = results.filter((r) => r === 'alive').length;
    for (let i = 0; i < 4; i++) await echoes(await open(s.url), 'new');
    const later = await statusUntil(s, (x) => x.active_sessions === alive + 4, `${alive + 4} sessions`);
    expect(later.workers[0]!.active_sessions).toBeGreaterThan(0);
  }, 60_000);

  it('applies SIGHUP on every worker', async () => {
    const file = tmp.file('reload.yaml');
    const make = yaml(onePool(A()));
    const s = await serve(file, make, 20_000);
    running.add(s);
    writeFileSync(file, yaml(onePool(B()))(s.port, s.adminPort));
    const w0 = s.nextLog((l) => l.msg === 'config reloaded' && l.worker === 0, 'worker 0 reloaded');
    const w1 = s.nextLog((l) => l.msg === 'config reloaded' && l.worker === 1, 'worker 1 reloaded');
    s.child.kill('SIGHUP');
    await Promise.all([w0, w1]);
    const beforeA = A().requests.length;
    const beforeB = B().requests.length;
    await onBothWorkers(s, 6);
    expect(A().requests.length - beforeA).toBe(0);
    expect(B().requests.length - beforeB).toBe(6);
  }, 60_000);

  it('restarts a worker with the settings its siblings run, not a reloaded listen address', async () => {
    const file = tmp.file('restart-after-reload.yaml');
    const s = await serve(file, yaml(onePool(A())), 20_000);
    running.add(s);
    // A new listen port (it applies after a restart only) and a new backend (it applies now).
    const otherPort = await freePort();
    writeFileSync(file, yaml(onePool(B()))(otherPort, s.adminPort));
    const reloaded = Promise.all([0, 1].map((w) => s.nextLog((l) => l.msg === 'config reloaded' && l.worker === w, `worker ${w} reloaded`)));
    s.child.kill('SIGHUP');
    await reloaded;
    const victim = (await status(s)).workers[0]!;
    const restarted = s.nextLog((l) => l.msg === 'worker restarted and listening' && l.worker === 0, 'worker 0 restarted', 15_000);
    process.kill(victim.pid, 'SIGKILL');
    await restarted;
    // Both workers, the new one too, serve the original port and use the reloaded backend.
    const beforeB = B().requests.length;
    await onBothWorkers(s, 6);
    expect(B().requests.length - beforeB).toBe(6);
    expect(await tcpConnect(otherPort)).toBe('ECONNREFUSED');
  }, 60_000);

  it('drains every worker on SIGTERM: 1001 to each session, exit 0', async () => {
    const s = await start(yaml(onePool(A())));
    const list = await onBothWorkers(s, 6);
    const codes = Promise.all(list.map((ws) => closed(ws).then((c) => c.code)));
    s.child.kill('SIGTERM');
    expect(await codes).toEqual([1001, 1001, 1001, 1001, 1001, 1001]);
    expect((await s.exited).code).toBe(0);
    expect(s.lines.some((l) => l.msg === 'drained, exiting')).toBe(true);
  }, 60_000);
});

function onPath(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
