/** Argument parsing and the human output of the monitor commands, on plain values. */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/commands/io.js';
import { parseHeaders, parseIntOption, parseSubprotocols, parseWsUrl } from '../../../src/monitor/cli-args.js';
import { formatCheck, formatMonitorRun, formatSticky } from '../../../src/monitor/report.js';
import type { CheckResult } from '../../../src/monitor/check.js';
import type { MonitorResult } from '../../../src/monitor/runner.js';

describe('cli-args', () => {
  it('accepts ws and wss URLs only', () => {
    expect(parseWsUrl(['wss://h/p?q=1'], 'check')).toBe('wss://h/p?q=1');
    expect(() => parseWsUrl(['https://h/p'], 'check')).toThrow('"https://h/p" is an https URL — use wss://h/p');
    expect(() => parseWsUrl(['ws://h/#x'], 'check')).toThrow(/fragment/);
    expect(() => parseWsUrl(['ws://h/#x'], 'check')).toThrow(UsageError);
  });

  it('parses whole numbers within bounds', () => {
    expect(parseIntOption('timeout', undefined, 5000, 1)).toBe(5000);
    expect(parseIntOption('timeout', ' 250 ', 5000, 1)).toBe(250);
    expect(() => parseIntOption('timeout', '1.5', 5000, 1)).toThrow('--timeout must be a whole number, got "1.5"');
    expect(() => parseIntOption('timeout', '-1', 5000, 1)).toThrow(/whole number/);
    expect(() => parseIntOption('count', '0', 5, 2)).toThrow('--count must be at least 2, got 0');
  });

  it('parses repeatable headers, joining repeats', () => {
    expect(parseHeaders(['Authorization: Bearer a:b', 'X-A: 1', 'x-a: 2', 'X-A: 3'])).toEqual({ Authorization: 'Bearer a:b', 'X-A': '1, 3', 'x-a': '2' });
    expect(parseHeaders(undefined)).toEqual({});
    expect(() => parseHeaders([': v'])).toThrow(/is not "Name: value"/);
    expect(() => parseHeaders(['Bad Name: v'])).toThrow(UsageError);
  });

  it('validates subprotocol tokens', () => {
    expect(parseSubprotocols(['chat.v1', 'chat.v2'])).toEqual(['chat.v1', 'chat.v2']);
    expect(() => parseSubprotocols(['a,b'])).toThrow(UsageError);
    expect(() => parseSubprotocols(['a', 'a'])).toThrow(/once/);
  });
});

const healthy: CheckResult = {
  url: 'ws://h/',
  healthy: true,
  connected: true,
  connectionTimeMs: 2.5,
  pingLatencyMs: 0.4,
  messageLatencyMs: 1.1,
  messageReceived: true,
  closeCode: 1000,
  totalTimeMs: 12,
  error: null,
};

describe('report', () => {
  it('formats a check', () => {
    expect(formatCheck(healthy)).toBe('healthy  ws://h/\n  connected in 2.5 ms, ping 0.4 ms, reply in 1.1 ms, close 1000, total 12 ms\n');
    const refused = { ...healthy, healthy: false, connected: false, connectionTimeMs: null, pingLatencyMs: null, messageLatencyMs: null, messageReceived: false, closeCode: null, error: 'connection refused (ECONNREFUSED 127.0.0.1:1)' };
    expect(formatCheck(refused)).toBe('UNHEALTHY  ws://h/\n  error: connection refused (ECONNREFUSED 127.0.0.1:1)\n  not connected, total 12 ms\n');
  });

  it('formats monitor runs, with the failing step under a failure', () => {
    const base: MonitorResult = {
      monitor: 'chat',
      url: 'ws://h/',
      passed: true,
      startedAt: '2026-01-01T00:00:00.000Z',
      durationMs: 20,
      steps: [],
      connectionLatencyMs: 3,
      messageLatencyMs: null,
      pingLatencyMs: null,
      closeCode: 1000,
    };
    expect(formatMonitorRun(base, 6)).toBe('PASS chat    20 ms  (connection 3 ms)\n');
    const failed = { ...base, passed: false, connectionLatencyMs: null, durationMs: 12_345, error: 'monitor "chat": steps[0] (connect) failed: connection refused' };
    expect(formatMonitorRun(failed)).toBe('FAIL chat  12.3 s\n  steps[0] (connect) failed: connection refused\n');
  });

  it('formats sticky verdicts', () => {
    expect(formatSticky({ url: 'ws://h/', sticky: true, ids: ['a', 'a'], distinct: ['a'] }, 2)).toBe('sticky: all 2 connections reached backend "a"\n');
    expect(formatSticky({ url: 'ws://h/', sticky: null, ids: ['a'], distinct: ['a'], error: 'connection 2 of 5: boom' }, 5)).toBe(
      'could not tell whether ws://h/ is sticky: connection 2 of 5: boom\n  ids before the failure: a\n',
    );
  });
});
