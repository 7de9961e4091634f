/**
 * `wstap serve` end to end, reloading (SPEC §3 "SIGHUP (and, if enabled, a change of the file)
 * reloads the config without dropping open sessions; an invalid new config is refused with its
 * errors logged and the old one kept").
 */
import { renameSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { closed, connect, nextMessage, refusedStatus } from '../helpers/proxy.js';
import { trackedBackend, type TrackedBackend } from '../helpers/backends.js';
import { buildOnce, killChildren, serve, tempDir, type Served } from '../helpers/cli.js';

let a: TrackedBackend;
let b: TrackedBackend;
let tmp: ReturnType<typeof tempDir>;
const clients = new Set<WebSocket>();

beforeAll(async () => {
  await buildOnce();
  a = await trackedBackend();
  // Backend b says who it is, so a test can tell which pool served it.
  b = await trackedBackend({ onConnection: (c) => c.ws.on('message', (m) => c.ws.send(`b:${m.toString()}`)) });
  tmp = tempDir();
}, 120_000);

afterAll(async () => {
  await a?.close();
  await b?.close();
  tmp?.remove();
});

afterEach(async () => {
  for (const ws of clients) ws.terminate();
  clients.clear();
  await killChildren();
});

interface Shape {
  /** Add the /b route to pool b. */
  readonly withB?: boolean;
  readonly watch?: boolean;
}

function yaml(port: number, adminPort: number, o: Shape = {}): string {
  return `
listen: { host: 127.0.0.1, port: ${port} }
admin: { host: 127.0.0.1, port: ${adminPort} }
backends:
  a: { servers: [{ id: a1, url: "${a.url}" }] }
  b: { servers: [{ id: b1, url: "${b.url}" }] }
routes:
${o.withB ? '  - { name: b, match: { path: /b }, backend: b }\n' : ''}  - { name: a, match: { path: /a }, backend: a }
heartbeat: { interval: 0 }
timeouts: { drain: 200ms }
watch: ${o.watch ? 'true' : 'false'}
log: { level: info }
`;
}

async function open(url: string): Promise<WebSocket> {
  const ws = await connect(url);
  clients.add(ws);
  return ws;
}

async function say(ws: WebSocket, text: string): Promise<string> {
  const m = nextMessage(ws);
  ws.send(text);
  return (await m).data.toString();
}

async function stop(s: Served): Promise<void> {
  s.child.kill('SIGTERM');
  expect(await s.exited).toEqual({ code: 0, signal: null });
}

const reloaded = (trigger: string) => (l: { msg?: string; trigger?: unknown }) => l.msg === 'config reloaded' && l.trigger === trigger;

describe('SIGHUP', () => {
  it('after rewriting the file with a new route: the new route serves at once, an open session keeps working', async () => {
    const file = tmp.file('hup.yaml');
    let ports: [number, number] = [0, 0];
    const s = await serve(file, (p, ap) => ((ports = [p, ap]), yaml(p, ap)));
    const old = await open(`${s.url}/a`);
    expect(await say(old, 'one')).toBe('one');
    expect((await refusedStatus(`${s.url}/b`)).status).toBe(404);

    writeFileSync(file, yaml(...ports, { withB: true }));
    const done = s.nextLog(reloaded('SIGHUP'), 'config reloaded');
    s.child.kill('SIGHUP');
    await done;

    const fresh = await open(`${s.url}/b`);
    expect(await say(fresh, 'two')).toBe('b:two');
    expect(await say(old, 'three')).toBe('three');
    expect(old.readyState).toBe(WebSocket.OPEN);
    const c = closed(old);
    old.close(1000);
    expect((await c).code).toBe(1000);
    await stop(s);
  });

  it('with an invalid file: the problems are logged, the old config is kept (old route works), the process keeps running', async () => {
    const file = tmp.file('hup-bad.yaml');
    let ports: [number, number] = [0, 0];
    const s = await serve(file, (p, ap) => ((ports = [p, ap]), yaml(p, ap)));
    const old = await open(`${s.url}/a`);

    // A route to a pool that does not exist.
    writeFileSync(file, yaml(...ports).replace('backend: a }', 'backend: chat }'));
    const refused = s.nextLog((l) => l.msg === 'config reload refused: keeping the running config', 'reload refused');
    s.child.kill('SIGHUP');
    await refused;
    const problems = s.lines.filter((l) => l.msg === 'config reload refused').map((l) => String(l.problem));
    expect(problems).toEqual(['routes[0].backend: unknown backend "chat" (known: a, b)']);

    expect(s.child.exitCode).toBeNull();
    expect(await say(old, 'still')).toBe('still');
    const again = await open(`${s.url}/a`);
    expect(await say(again, 'new session, old config')).toBe('new session, old config');
    expect((await refusedStatus(`${s.url}/b`)).status).toBe(404);
    await stop(s);
  });

  it('a missing file is refused like an invalid one', async () => {
    const file = tmp.file('hup-gone.yaml');
    const s = await serve(file, (p, ap) => yaml(p, ap));
    renameSync(file, `${file}.bak`);
    const refused = s.nextLog((l) => l.msg === 'config reload refused: keeping the running config', 'reload refused');
    s.child.kill('SIGHUP');
    await refused;
    const ws = await open(`${s.url}/a`);
    expect(await say(ws, 'ok')).toBe('ok');
    await stop(s);
  });
});

describe('watch: true', () => {
  it('rewriting the file reloads it without a signal', async () => {
    const file = tmp.file('watch.yaml');
    let ports: [number, number] = [0, 0];
    const s = await serve(file, (p, ap) => ((ports = [p, ap]), yaml(p, ap, { watch: true })));
    const old = await open(`${s.url}/a`);
    const done = s.nextLog(reloaded('file change'), 'config reloaded on file change');
    writeFileSync(file, yaml(...ports, { watch: true, withB: true }));
    await done;
    const fresh = await open(`${s.url}/b`);
    expect(await say(fresh, 'w')).toBe('b:w');
    expect(await say(old, 'old')).toBe('old');
    await stop(s);
  });

  it('an editor-style save (write a temp file, rename it over the config) reloads, and so does the next one', async () => {
    const file = tmp.file('watch-rename.yaml');
    let ports: [number, number] = [0, 0];
    const s = await serve(file, (p, ap) => ((ports = [p, ap]), yaml(p, ap, { watch: true })));

    let done = s.nextLog(reloaded('file change'), 'first reload');
    writeFileSync(`${file}.tmp`, yaml(...ports, { watch: true, withB: true }));
    renameSync(`${file}.tmp`, file);
    await done;
    const ws = await open(`${s.url}/b`);
    expect(await say(ws, 'x')).toBe('b:x');

    done = s.nextLog(reloaded('file change'), 'second reload');
    writeFileSync(`${file}.tmp`, yaml(...ports, { watch: true }));
    renameSync(`${file}.tmp`, file);
    await done;
    expect((await refusedStatus(`${s.url}/b`)).status).toBe(404);
    await stop(s);
  });

  it('an invalid save is refused and the old config kept; a later valid save applies', async () => {
    const file = tmp.file('watch-bad.yaml');
    let ports: [number, number] = [0, 0];
    const s = await serve(file, (p, ap) => ((ports = [p, ap]), yaml(p, ap, { watch: true })));
    let next = s.nextLog((l) => l.msg === 'config reload refused: keeping the running config', 'reload refused');
    writeFileSync(file, 'routes: [');
    await next;
    const ws = await open(`${s.url}/a`);
    expect(await say(ws, 'kept')).toBe('kept');

    next = s.nextLog(reloaded('file change'), 'config reloaded');
    writeFileSync(file, yaml(...ports, { watch: true, withB: true }));
    await next;
    const fresh = await open(`${s.url}/b`);
    expect(await say(fresh, 'y')).toBe('b:y');
    await stop(s);
  });
});
