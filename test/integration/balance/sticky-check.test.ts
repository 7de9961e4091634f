import { afterEach, describe, expect, it } from 'vitest';
import { stickyCheckCommand } from '../../../src/commands/sticky-check.js';
import { captureIO } from '../monitor/captured-io.js';
import { assertNoLeaks, type Backend } from '../../helpers/proxy.js';
import { ID_HEADER, backends, poolConfig, startBalanced, type BalancedProxy } from './fixtures.js';

let servers: Backend[] = [];
let p: BalancedProxy | undefined;

afterEach(async () => {
  await p?.close();
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  p = undefined;
});

describe('wstap sticky-check through wstap', () => {
  it('exits 0 on a route with header affinity and 1 on a round-robin route', async () => {
    servers = await backends(3);
    const config = poolConfig(servers, {}, {
      backends: {
        sticky: { servers: servers.map((b, i) => ({ id: `b${i + 1}`, url: b.url })), id_header: ID_HEADER, affinity: { key: 'header:x-user' } },
        rr: { servers: servers.map((b, i) => ({ id: `r${i + 1}`, url: b.url })), id_header: ID_HEADER, balance: 'round-robin' },
      },
      routes: [
        { name: 'sticky', match: { path: '/sticky' }, backend: 'sticky' },
        { name: 'rr', match: { path: '/rr' }, backend: 'rr' },
      ],
    });
    p = await startBalanced(config);

    const sticky = captureIO();
    const code1 = await stickyCheckCommand([`${p.url}/sticky`, '--count', '6', '--header', ID_HEADER, '--request-header', 'X-User: alice', '--json'], sticky);
    expect(code1).toBe(0);
    const r1 = JSON.parse(sticky.out()) as { sticky: boolean; distinct: string[] };
    expect(r1.sticky).toBe(true);
    expect(r1.distinct).toHaveLength(1);

    const rr = captureIO();
    const code2 = await stickyCheckCommand([`${p.url}/rr`, '--count', '6', '--header', ID_HEADER, '--json'], rr);
    expect(code2).toBe(1);
    const r2 = JSON.parse(rr.out()) as { sticky: boolean; distinct: string[] };
    expect(r2.sticky).toBe(false);
    expect(r2.distinct.sort()).toEqual(['r1', 'r2', 'r3']);
    expect(p.selections.filter((s) => s.affinity !== 'none').map((s) => s.affinity)).toEqual(['new', 'hit', 'hit', 'hit', 'hit', 'hit']);

    await p.rec.closes(12);
    await assertNoLeaks(p, servers);
  });
});
