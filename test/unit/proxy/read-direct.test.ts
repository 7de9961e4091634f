/**
 * `readDirect` finds Node's per-socket `onread` slots by probing. If a Node release stored them
 * differently, the tunnel would quietly fall back to 'data' events (correct, but slower and
 * hungrier): this test makes that visible. It also pins which sockets are switched: plain TCP
 * (accepted and dialled), never TLS.
 */
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readDirect } from '../../../src/proxy/tunnel.js';
import { makeTestPki, type TestPki } from '../../helpers/tls-certs.js';

let pki: TestPki;
const servers: net.Server[] = [];
const sockets: Socket[] = [];

beforeAll(() => {
  pki = makeTestPki();
});
afterAll(() => pki.remove());
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A connected pair: [the accepted socket, the dialled one]. */
async function pair(server: net.Server, dial: (port: number) => Socket, event = 'connection'): Promise<[Socket, Socket]> {
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, event);
  const dialled = dial((server.address() as net.AddressInfo).port);
  dialled.on('error', () => {});
  sockets.push(dialled);
  const [a] = (await accepted) as [Socket];
  a.on('error', () => {});
  sockets.push(a);
  return [a, dialled];
}

describe('readDirect', () => {
  it('switches plain TCP sockets, accepted and dialled, to direct reads', async () => {
    const [a, d] = await pair(net.createServer(), (port) => net.connect(port, '127.0.0.1'));
    if (d.connecting) await once(d, 'connect');
    expect(readDirect(a)).toBe(true);
    expect(readDirect(d)).toBe(true);
  });

  it('leaves TLS sockets on the default path', async () => {
    const server = tls.createServer({ cert: pki.cert, key: pki.key });
    const [a, d] = await pair(server, (port) => tls.connect({ port, host: '127.0.0.1', ca: pki.ca }), 'secureConnection');
    expect(readDirect(a)).toBe(false);
    expect(readDirect(d)).toBe(false);
  });

  it('leaves a socket without a handle alone', () => {
    const s = new net.Socket();
    sockets.push(s);
    expect(readDirect(s)).toBe(false);
  });
});
