import { describe, expect, it } from 'vitest';
import { checkAssertion, lookup, messageMatcher, parseJson, parsePath } from '../../../src/monitor/assertions.js';

describe('messageMatcher', () => {
  it('with no assertion accepts any message', () => {
    const m = messageMatcher({});
    expect(m.description).toBe('a message');
    expect(m.accepts('')).toBe(true);
  });

  it('combines every assertion, all of which must hold', () => {
    const m = messageMatcher({
      assert_message_contains: '"type":"pong"',
      assert_message_matches: '^\\{',
      assert_json: { path: 'id', equals: 7 },
    });
    expect(m.description).toBe(`a message containing '"type":"pong"' and matching /^\\{/ and with JSON id = 7`);
    expect(m.accepts('{"type":"pong","id":7}')).toBe(true);
    expect(m.accepts('{"type":"pong","id":"7"}')).toBe(false);
    expect(m.accepts(' {"type":"pong","id":7}')).toBe(false);
  });

  it('equals is exact', () => {
    const m = messageMatcher({ assert_message_equals: 'ok' });
    expect(m.accepts('ok')).toBe(true);
    expect(m.accepts('ok ')).toBe(false);
    expect(m.description).toBe('a message equal to "ok"');
  });

  it('assert_json compares deeply and tells null from missing and from not-JSON', () => {
    const isNull = messageMatcher({ assert_json: { path: 'a.b', equals: null } });
    expect(isNull.accepts('{"a":{"b":null}}')).toBe(true);
    expect(isNull.accepts('{"a":{}}')).toBe(false);
    expect(isNull.accepts('null')).toBe(false);
    expect(isNull.accepts('not json')).toBe(false);
    const deep = messageMatcher({ assert_json: { path: 'items', equals: [{ id: 1 }] } });
    expect(deep.accepts('{"items":[{"id":1}]}')).toBe(true);
    expect(deep.accepts('{"items":[{"id":1,"x":2}]}')).toBe(false);
  });
});

describe('JSON paths', () => {
  it('parses dotted and bracketed indexes', () => {
    expect(parsePath('data.items[0].id')).toEqual(['data', 'items', '0', 'id']);
    expect(parsePath('a.0.b')).toEqual(['a', '0', 'b']);
    expect(parsePath('type')).toEqual(['type']);
  });

  it('looks values up in objects and arrays', () => {
    const doc = { data: { items: [{ id: 'x' }], 'k.1': 1 } };
    expect(lookup(doc, ['data', 'items', '0', 'id'])).toEqual({ present: true, value: 'x' });
    expect(lookup(doc, ['data', 'items', '1'])).toEqual({ present: false, value: undefined });
    expect(lookup(doc, ['data', 'items', 'length'])).toEqual({ present: false, value: undefined });
    expect(lookup(doc, ['data', 'toString'])).toEqual({ present: false, value: undefined });
    expect(lookup('str', ['length'])).toEqual({ present: false, value: undefined });
  });

  it('parseJson separates "not JSON" from a JSON null', () => {
    expect(parseJson('null')).toEqual({ value: null });
    expect(parseJson('{')).toBeUndefined();
  });
});

describe('checkAssertion', () => {
  const m = { connectionLatencyMs: 12, messageLatencyMs: null };
  it('holds or says why not', () => {
    expect(checkAssertion({ type: 'connection_latency', operator: 'less_than', value: 500 }, m)).toBeNull();
    expect(checkAssertion({ type: 'connection_latency', operator: 'greater_than', value: 500 }, m)).toBe('connection_latency was 12 ms, not greater than 500 ms');
    expect(checkAssertion({ type: 'connection_latency', operator: 'equals', value: 12 }, m)).toBeNull();
    expect(checkAssertion({ type: 'connection_latency', operator: 'equals', value: 13 }, m)).toBe('connection_latency was 12 ms, not equal to 13 ms');
  });

  it('an unmeasured latency fails with a hint', () => {
    expect(checkAssertion({ type: 'message_latency', operator: 'less_than', value: 1 }, m)).toBe(
      'message_latency was not measured (add a send + receive or a measure_latency step)',
    );
  });
});
