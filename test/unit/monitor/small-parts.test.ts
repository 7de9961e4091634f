/** The pure helpers of src/monitor: latency ring, deadlines, quoting, error descriptions. */
import { describe, expect, it } from 'vitest';
import { closeMismatch, describeConnectError, describeStreamError, formatClose } from '../../../src/monitor/connect-errors.js';
import { deadlineIn, earliest, quote, roundMs, sleep, timeoutMessage } from '../../../src/monitor/deadline.js';
import { LatencySamples } from '../../../src/monitor/latency-samples.js';

describe('LatencySamples', () => {
  it('reports nearest-rank percentiles over the last N samples', () => {
    const s = new LatencySamples(100);
    expect(s.percentiles()).toEqual({ count: 0, p50_ms: null, p95_ms: null, p99_ms: null });
    for (let i = 1; i <= 100; i++) s.add(i);
    expect(s.percentiles()).toEqual({ count: 100, p50_ms: 50, p95_ms: 95, p99_ms: 99 });
  });

  it('drops the oldest samples and ignores missing ones', () => {
    const s = new LatencySamples(3);
    for (const v of [100, 1, 2, null, Number.NaN, 3]) s.add(v);
    expect(s.size).toBe(3);
    expect(s.percentiles()).toEqual({ count: 3, p50_ms: 2, p95_ms: 3, p99_ms: 3 });
  });

  it('rejects a useless capacity', () => {
    expect(() => new LatencySamples(0)).toThrow(RangeError);
  });
});

describe('deadlines', () => {
  it('earliest picks the one that fires first and messages name the limit', () => {
    const run = deadlineIn(10_000, "the monitor's timeout");
    const step = deadlineIn(300);
    expect(earliest(run, step)).toBe(step);
    expect(earliest(run, undefined)).toBe(run);
    expect(timeoutMessage(step, 'a pong')).toBe('timed out after 300 ms waiting for a pong');
    expect(timeoutMessage(run, 'a pong')).toBe("timed out after 10000 ms (the monitor's timeout) waiting for a pong");
  });

  it('sleep ends early on abort and leaves no timer', async () => {
    const ac = new AbortController();
    const p = sleep(10_000, ac.signal);
    ac.abort();
    expect(await p).toBe(false);
    expect(await sleep(1)).toBe(true);
    expect(await sleep(1000, ac.signal)).toBe(false);
  });

  it('roundMs keeps a decimal below 10 ms', () => {
    expect(roundMs(1.234)).toBe(1.2);
    expect(roundMs(12.6)).toBe(13);
  });

  it('quote keeps JSON needles readable', () => {
    expect(quote('x')).toBe('"x"');
    expect(quote('"type":"pong"')).toBe(`'"type":"pong"'`);
    expect(quote(`it's "x"`)).toBe(JSON.stringify(`it's "x"`));
    expect(quote('a'.repeat(200)).length).toBeLessThan(130);
  });
});

function nodeError(message: string, props: Record<string, unknown>): Error {
  return Object.assign(new Error(message), props);
}

describe('describeConnectError', () => {
  const url = new URL('wss://example.test:8443/ws');
  it('names refused connections with the address, also for every address of a name', () => {
    expect(describeConnectError(nodeError('connect ECONNREFUSED 127.0.0.1:1', { code: 'ECONNREFUSED', address: '127.0.0.1', port: 1 }), url)).toBe(
      'connection refused (ECONNREFUSED 127.0.0.1:1)',
    );
    const agg = Object.assign(
      new AggregateError([nodeError('a', { code: 'ECONNREFUSED', address: '::1', port: 9 }), nodeError('b', { code: 'ECONNREFUSED', address: '127.0.0.1', port: 9 })], ''),
      { code: 'ECONNREFUSED' },
    );
    expect(describeConnectError(agg, url)).toBe('connection refused (ECONNREFUSED [::1]:9, 127.0.0.1:9)');
  });

  it('names TLS causes', () => {
    expect(describeConnectError(nodeError('certificate has expired', { code: 'CERT_HAS_EXPIRED' }), url)).toBe('TLS certificate rejected: certificate has expired (CERT_HAS_EXPIRED)');
    expect(
      describeConnectError(nodeError("Hostname/IP does not match certificate's altnames", { code: 'ERR_TLS_CERT_ALTNAME_INVALID', reason: 'Host: example.test. is not in the cert\'s altnames: DNS:localhost' }), url),
    ).toBe("TLS certificate rejected: the certificate does not match the host name: Host: example.test. is not in the cert's altnames: DNS:localhost (ERR_TLS_CERT_ALTNAME_INVALID)");
  });

  it('names DNS failures and ws handshake rejections', () => {
    expect(describeConnectError(nodeError('getaddrinfo ENOTFOUND example.test', { code: 'ENOTFOUND', hostname: 'example.test' }), url)).toBe(
      'cannot resolve host "example.test" (ENOTFOUND)',
    );
    expect(describeConnectError(new Error('Invalid Sec-WebSocket-Accept header'), url)).toBe('invalid handshake response: Invalid Sec-WebSocket-Accept header');
    expect(describeConnectError(nodeError('socket hang up', { code: 'ECONNRESET' }), url)).toMatch(/without answering the upgrade request/);
  });

  it('describes stream errors and closes', () => {
    expect(describeStreamError(nodeError('Invalid WebSocket frame: RSV1 must be clear', { code: 'WS_ERR_UNEXPECTED_RSV_1' }))).toBe(
      'protocol error from the server: Invalid WebSocket frame: RSV1 must be clear (WS_ERR_UNEXPECTED_RSV_1)',
    );
    expect(formatClose(4002, 'bye')).toBe('4002 (bye)');
    expect(formatClose(1000, '')).toBe('1000');
    expect(closeMismatch({ code: 1000, reason: '', byServer: false }, 1000)).toBeNull();
    expect(closeMismatch({ code: 4002, reason: 'bye', byServer: false }, 1000)).toBe('closed with 4002 (bye) but 1000 was expected');
    expect(closeMismatch({ code: 1006, reason: '', byServer: true }, 1000, 'a pong')).toBe(
      'the connection dropped without a close frame (1006) but 1000 was expected (the server closed first, while waiting for a pong)',
    );
  });
});
