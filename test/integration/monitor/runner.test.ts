/**
 * Monitor runs against real servers: every step action and assertion, the precise failure
 * messages, the overall timeout, and the metrics a run records.
 */
import { describe, expect, it } from 'vitest';
import { runMonitor } from '../../../src/monitor/runner.js';
import { ATTR, METRIC } from '../../../src/telemetry/names.js';
import { histogramPoint, pointValue } from '../../helpers/metrics.js';
import { RecordedMetrics, monitorFrom, seedMonitor, telemetryWithReader } from './monitors.js';
import { freePort, helloEcho, pythonServer, wsServer, useServers } from './servers.js';

const { keep } = useServers();

describe('runMonitor: the seed monitor', () => {
  it.each(['ws', 'python'])('passes against a %s echo server and records its metrics', async (kind) => {
    const s = await keep(kind === 'ws' ? wsServer() : pythonServer('echo'));
    const metrics = new RecordedMetrics();
    const r = await runMonitor(seedMonitor(s.url), { metrics });
    expect(r.error).toBeUndefined();
    expect(r).toMatchObject({ monitor: 'seed', url: s.url, passed: true, closeCode: 1000 });
    expect(r.steps.map((x) => [x.action, x.passed])).toEqual([
      ['connect', true],
      ['send', true],
      ['receive', true],
      ['measure_latency', true],
      ['disconnect', true],
    ]);
    expect(r.connectionLatencyMs).toBeGreaterThan(0);
    expect(r.messageLatencyMs).toBeGreaterThanOrEqual(0);
    expect(r.durationMs).toBeGreaterThan(0);
    expect(metrics.runs).toEqual([{ monitor: 'seed', ok: true, durationS: expect.any(Number) }]);
    expect(metrics.steps.map((x) => x.step)).toEqual(['connect', 'send', 'receive', 'measure_latency', 'disconnect']);
  });

  it('records wstap.monitor.* in the real telemetry pipeline', async () => {
    const s = await keep(wsServer());
    const { telemetry, reader } = telemetryWithReader();
    try {
      await runMonitor(seedMonitor(s.url), { metrics: telemetry.monitors });
      await runMonitor(monitorFrom({ name: 'down', url: `ws://127.0.0.1:${await freePort()}/` }), { metrics: telemetry.monitors });
      const rm = await reader.read();
      expect(pointValue(rm, METRIC.MONITOR_UP, { [ATTR.MONITOR]: 'seed' })).toBe(1);
      expect(pointValue(rm, METRIC.MONITOR_UP, { [ATTR.MONITOR]: 'down' })).toBe(0);
      expect(histogramPoint(rm, METRIC.MONITOR_DURATION, { [ATTR.MONITOR]: 'seed' })?.count).toBe(1);
      expect(histogramPoint(rm, METRIC.MONITOR_STEP_DURATION, { [ATTR.MONITOR]: 'seed', [ATTR.MONITOR_STEP]: 'receive' })?.count).toBe(1);
      expect(histogramPoint(rm, METRIC.MONITOR_STEP_DURATION, { [ATTR.MONITOR]: 'down', [ATTR.MONITOR_STEP]: 'connect' })?.count).toBe(1);
    } finally {
      await telemetry.shutdown();
    }
  });

  it('a monitor without steps runs connect, ping, disconnect', async () => {
    const s = await keep(pythonServer('echo'));
    const r = await runMonitor(monitorFrom({ name: 'defaults', url: s.url }));
    expect(r.passed).toBe(true);
    expect(r.steps.map((x) => x.action)).toEqual(['connect', 'ping', 'disconnect']);
    expect(r.pingLatencyMs).toBeGreaterThanOrEqual(0);
  });
});

describe('runMonitor: failures name the monitor, the step and why', () => {
  it('a receive assertion that never holds', async () => {
    const s = await keep(wsServer());
    const m = monitorFrom({
      name: 'chat',
      url: s.url,
      steps: [{ action: 'connect' }, { action: 'send', message: '{"type":"ping"}' }, { action: 'receive', timeout_ms: 300, assert_message_contains: 'pang' }, { action: 'disconnect' }],
    });
    const metrics = new RecordedMetrics();
    const r = await runMonitor(m, { metrics });
    expect(r.passed).toBe(false);
    expect(r.error).toBe(
      'monitor "chat": steps[2] (receive) failed: timed out after 300 ms waiting for a message containing "pang" (1 other message received; last: {"type":"pong","backend":"ws-1"})',
    );
    expect(r.steps.map((x) => x.passed)).toEqual([true, true, false]);
    expect(r.steps[2]?.durationMs).toBeGreaterThanOrEqual(290);
    expect(metrics.runs[0]?.ok).toBe(false);
  });

  it('a refused connection', async () => {
    const port = await freePort();
    const r = await runMonitor(monitorFrom({ name: 'gone', url: `ws://127.0.0.1:${port}/` }));
    expect(r.error).toBe(`monitor "gone": steps[0] (connect) failed: connection refused (ECONNREFUSED 127.0.0.1:${port})`);
  });

  it('a close code other than the expected one (python server closing with 4002)', async () => {
    const s = await keep(pythonServer('close', '4002', 'bye'));
    const r = await runMonitor(monitorFrom({ name: 'c', url: s.url, steps: [{ action: 'connect' }, { action: 'wait', ms: 50 }, { action: 'disconnect' }] }));
    expect(r.error).toBe('monitor "c": steps[2] (disconnect) failed: closed with 4002 (bye) but 1000 was expected');
    expect(r.closeCode).toBe(4002);
  });

  it('the overall timeout bounds a receive without its own timeout', async () => {
    const s = await keep(wsServer(() => {}));
    const m = monitorFrom({ name: 't', url: s.url, timeout: '400ms', interval: '1s', steps: [{ action: 'connect' }, { action: 'receive' }] });
    const r = await runMonitor(m);
    expect(r.error).toBe(`monitor "t": steps[1] (receive) failed: timed out after 400 ms (the monitor's timeout) waiting for a message`);
    expect(r.durationMs).toBeLessThan(1000);
  });

  it('the overall timeout cuts a long wait', async () => {
    const s = await keep(wsServer());
    const m = monitorFrom({ name: 'w', url: s.url, timeout: '300ms', interval: '1s', steps: [{ action: 'connect' }, { action: 'wait', duration: '5s' }, { action: 'disconnect' }] });
    const r = await runMonitor(m);
    expect(r.error).toBe(`monitor "w": steps[1] (wait) failed: the monitor's timeout (300 ms) ran out during a wait of 5000 ms`);
    expect(r.durationMs).toBeLessThan(1000);
  });

  it('a step that needs a connection before connect', async () => {
    const r = await runMonitor(monitorFrom({ name: 'n', url: 'ws://127.0.0.1:9/', steps: [{ action: 'send', message: 'x' }] }));
    expect(r.error).toBe('monitor "n": steps[0] (send) failed: no open connection — add a connect step before it');
  });

  it('run-level assertions report every failure', async () => {
    const s = await keep(wsServer());
    const m = monitorFrom({
      name: 'slow',
      url: s.url,
      assertions: [
        { type: 'connection_latency', operator: 'greater_than', value: 60000 },
        { type: 'message_latency', operator: 'less_than', value: 100 },
      ],
    });
    const r = await runMonitor(m);
    expect(r.error).toMatch(
      /^monitor "slow": assertions\[0\] failed: connection_latency was [\d.]+ ms, not greater than 60000 ms; assertions\[1\] failed: message_latency was not measured \(add a send \+ receive or a measure_latency step\)$/,
    );
  });
});

describe('runMonitor: step actions', () => {
  it('receive: equals, regex and a JSON path (dotted and indexed)', async () => {
    const s = await keep(
      wsServer((ws) => ws.on('message', () => ws.send(JSON.stringify({ type: 'data', items: [{ id: 'a' }, { id: 'b' }], n: null })))),
    );
    const body = '{"type":"data","items":[{"id":"a"},{"id":"b"}],"n":null}';
    const m = monitorFrom({
      name: 'j',
      url: s.url,
      steps: [
        { action: 'connect' },
        { action: 'send', message: { q: 1 } },
        { action: 'receive', assert_message_equals: body, assert_message_matches: '^\\{"type":"data"', assert_json: { path: 'items[1].id', equals: 'b' } },
        { action: 'send', message: 'again' },
        { action: 'receive', assert_json: { path: 'n', equals: null } },
        { action: 'send', message: 'third' },
        { action: 'receive', timeout_ms: 200, assert_json: { path: 'missing', equals: null } },
      ],
    });
    const r = await runMonitor(m);
    expect(r.steps.map((x) => x.passed)).toEqual([true, true, true, true, true, true, false]);
    expect(r.error).toMatch(/steps\[6\] \(receive\) failed: timed out after 200 ms waiting for a message with JSON missing = null \(1 other message received/);
  });

  it('measure_latency pings when there was no exchange; ping steps and waits run', async () => {
    const s = await keep(pythonServer('silent'));
    const m = monitorFrom({
      name: 'p',
      url: s.url,
      steps: [{ action: 'connect' }, { action: 'ping', timeout_ms: 1000 }, { action: 'wait', ms: 50 }, { action: 'measure_latency' }, { action: 'disconnect' }],
      assertions: [{ type: 'message_latency', operator: 'less_than', value: 1000 }],
    });
    const r = await runMonitor(m);
    expect(r.error).toBeUndefined();
    expect(r.pingLatencyMs).not.toBeNull();
    expect(r.messageLatencyMs).toBe(r.pingLatencyMs);
    expect(r.steps[2]?.durationMs).toBeGreaterThanOrEqual(49);
  });

  it('disconnect accepts the code a server closes with when it is the expected one', async () => {
    const s = await keep(wsServer((ws) => ws.on('message', () => ws.close(4001, 'logged out'))));
    const m = monitorFrom({
      name: 'logout',
      url: s.url,
      steps: [{ action: 'connect' }, { action: 'send', message: 'logout' }, { action: 'wait', ms: 100 }, { action: 'disconnect', expected_close_code: 4001 }],
    });
    const r = await runMonitor(m);
    expect(r.error).toBeUndefined();
    expect(r.closeCode).toBe(4001);
  });

  it('connect: assert_connected_within_ms fails a slow handshake and names both figures', async () => {
    const s = await keep(wsServer(helloEcho('x')));
    // Hand-built: 0 ms is below the schema's minimum, so every handshake is too slow.
    const base = monitorFrom({ name: 'fast', url: s.url });
    const r = await runMonitor({ ...base, steps: [{ action: 'connect', assert_connected_within_ms: 0 }] });
    expect(r.error).toMatch(/^monitor "fast": steps\[0\] \(connect\) failed: connected in [\d.]+ ms, more than the 0 ms allowed \(assert_connected_within_ms\)$/);
  });

  it('an aborted run records no metrics and releases the socket', async () => {
    const s = await keep(wsServer(() => {}));
    const metrics = new RecordedMetrics();
    const ac = new AbortController();
    const p = runMonitor(monitorFrom({ name: 'a', url: s.url, steps: [{ action: 'connect' }, { action: 'receive' }] }), { metrics, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    const r = await p;
    expect(r).toMatchObject({ passed: false, aborted: true });
    expect(metrics.runs).toEqual([]);
  });
});
