/**
 * The Autobahn|Testsuite case groups, re-written as data from their descriptions (research §4.1,
 * §4.3): groups 1–7, 9 (scaled down), 10, 12–13 for a raw client against a `ws` echo server, and
 * a representative subset the other way round (a scripted raw backend in front of a `ws` client).
 *
 * Each case is a script (harness.ts `Step`s) plus what the suite checks on the direct run, as a
 * sanity check of the case itself (`expect`: the frames received before the close, the code of
 * the close frame received, who sent the first close), and the protocol violations wstap must
 * count when the same script runs through it. The differential test compares the whole outcome.
 */
import type { Violation } from '../../src/frames/constants.js';
import { OP, frameDesc, msgDesc, payloadDesc, type Chop, type F, type M, type Step } from './harness.js';
import { Prng } from '../helpers/raw.js';

export type BackendKind = 'plain' | 'deflate' | 'deflate-noctx';

export interface Expect {
  /** Frames (and inflated messages) received, close frames aside, in order. */
  readonly frames?: readonly string[];
  /** Only the inflated messages (`msg …` entries), in order. */
  readonly messages?: readonly string[];
  /** The code of the close frame received (null: none). */
  readonly close: number | null;
  /** Who sent the first close frame. */
  readonly by: 'client' | 'server' | null;
}

export interface ClientCase {
  readonly id: string;
  readonly group: string;
  readonly title: string;
  /** Built on demand (group 9 payloads are large). */
  readonly steps: () => readonly Step[];
  readonly expect: Expect;
  /** Kinds wstap must count in the client_to_backend direction (none in the other). */
  readonly violations?: readonly Violation[];
  readonly backend?: BackendKind;
  /** `Sec-WebSocket-Extensions` offered by the raw client. */
  readonly offer?: string;
  readonly deadlineMs?: number;
  /**
   * The case is written slowly enough (≥ ~200 ms) that wstap must have completed a heartbeat
   * round trip on both legs during the proxied run: its pings landed between (or were deferred
   * past) the frames of the case.
   */
  readonly heartbeats?: boolean;
}

export interface BackendCase {
  readonly id: string;
  readonly group: string;
  readonly title: string;
  /** The fake backend's script. */
  readonly steps: () => readonly Step[];
  /** What the `ws` client must see on the direct run (the whole event list). */
  readonly client: readonly string[];
  /** Who sent the first close frame, and its code. */
  readonly first: { by: 'client' | 'server'; code: number };
  /** Kinds wstap must count in the backend_to_client direction. */
  readonly violations?: readonly Violation[];
  /** Slow enough that wstap must have completed a heartbeat round trip on both legs. */
  readonly heartbeats?: boolean;
}

// ─── builders ─────────────────────────────────────────────────────────────────────────────────

const buf = (d: Buffer | string): Buffer => (typeof d === 'string' ? Buffer.from(d, 'utf8') : d);
const text = (d: Buffer | string, o: Partial<F> = {}): F => ({ op: OP.text, data: buf(d), ...o });
const bin = (d: Buffer | string, o: Partial<F> = {}): F => ({ op: OP.binary, data: buf(d), ...o });
const cont = (d: Buffer | string, fin: boolean, o: Partial<F> = {}): F => ({ op: OP.cont, data: buf(d), fin, ...o });
const ping = (d: Buffer | string = '', o: Partial<F> = {}): F => ({ op: OP.ping, data: buf(d), ...o });
const pong = (d: Buffer | string = '', o: Partial<F> = {}): F => ({ op: OP.pong, data: buf(d), ...o });
const op = (code: number, d: Buffer | string = '', o: Partial<F> = {}): F => ({ op: code, data: buf(d), ...o });
function closePayload(code: number, reason: Buffer | string = ''): Buffer {
  const r = buf(reason);
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
}
const closeF = (code?: number, reason: Buffer | string = '', o: Partial<F> = {}): F => ({ op: OP.close, data: code === undefined ? Buffer.alloc(0) : closePayload(code, reason), ...o });

const send = (frames: F[], chop?: Chop): Step => (chop === undefined ? { send: frames } : { send: frames, chop });
const wait = (n: number): Step => ({ wait: n });
const waitClose: Step = { waitClose: true };
const close = (code?: number, reason?: string | Buffer): Step => ({ close: { ...(code !== undefined ? { code } : {}), ...(reason !== undefined ? { reason } : {}) } });
const pause = (ms: number): Step => ({ pause: ms });

/** Expected event of an unmasked frame received. */
const E = {
  text: (d: Buffer | string): string => frameDesc(OP.text, buf(d)),
  bin: (d: Buffer | string): string => frameDesc(OP.binary, buf(d)),
  pong: (d: Buffer | string = ''): string => frameDesc(OP.pong, buf(d)),
  ping: (d: Buffer | string = ''): string => frameDesc(OP.ping, buf(d)),
};

/** ASCII text of `n` bytes (valid UTF-8). */
function ascii(n: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = 0x20 + ((i * 7 + seed) % 95);
  return b;
}

/** UTF-8 text of `n` bytes with multi-byte characters (so fragments may split them). */
function utf8(n: number): Buffer {
  const unit = Buffer.from('wstap κόσμε ✓ 𝄞 ', 'utf8');
  const out = Buffer.alloc(n, 0x20);
  let at = 0;
  while (at + unit.length <= n) at += unit.copy(out, at);
  return out;
}

function randomBytes(n: number, seed: number): Buffer {
  return new Prng(seed).bytes(n);
}

/** Split `data` into frames of `size` bytes: the first with `opcode`, the rest continuations. */
function fragments(opcode: number, data: Buffer, size: number): F[] {
  const out: F[] = [];
  for (let at = 0; at === 0 || at < data.length; at += size) {
    out.push({ op: at === 0 ? opcode : OP.cont, data: data.subarray(at, at + size), fin: at + size >= data.length });
  }
  return out;
}

const OK = (frames: readonly string[], code = 1000): Expect => ({ frames, close: code, by: 'client' });
const FAIL = (frames: readonly string[] = [], code = 1002): Expect => ({ frames, close: code, by: 'server' });

// ─── raw client → ws echo server ──────────────────────────────────────────────────────────────

export const clientCases: ClientCase[] = [];
const add = (c: Omit<ClientCase, 'steps'> & { steps: readonly Step[] | (() => readonly Step[]) }): void => {
  const s = c.steps;
  clientCases.push({ ...c, steps: typeof s === 'function' ? s : () => s });
};

// Group 1: framing — text and binary of every length class, in frames, chops, octets.
const LENGTHS = [0, 125, 126, 127, 128, 65535, 65536];
for (const [kind, sub] of [
  ['text', 1],
  ['binary', 2],
] as const) {
  const mk = (len: number): Buffer => (kind === 'text' ? ascii(len, len) : randomBytes(len, len + 1));
  const f = (d: Buffer): F => (kind === 'text' ? text(d) : bin(d));
  const e = (d: Buffer): string => (kind === 'text' ? E.text(d) : E.bin(d));
  LENGTHS.forEach((len, i) => {
    const d = mk(len);
    add({ id: `1.${sub}.${i + 1}`, group: '1', title: `${kind} message, payload ${len}`, steps: [send([f(d)]), wait(1), close(1000)], expect: OK([e(d)]) });
  });
  const big = mk(65536);
  add({ id: `1.${sub}.8`, group: '1', title: `${kind} message, payload 65536, in chops of 997 octets`, steps: [send([f(big)], 997), wait(1), close(1000)], expect: OK([e(big)]) });
  [0, 125, 126, 128].forEach((len, i) => {
    const d = mk(len);
    add({ id: `1.${sub}.${9 + i}`, group: '1', title: `${kind} message, payload ${len}, octet-wise`, steps: [send([f(d)], 'octet'), wait(1), close(1000, 'done')], expect: OK([e(d)]) });
  });
  [126, 65535, 65536].forEach((len, i) => {
    const d = mk(len);
    add({ id: `1.${sub}.${13 + i}`, group: '1', title: `${kind} message, payload ${len}, random chops`, steps: [send([f(d)], 'random'), wait(1), close(1000)], expect: OK([e(d)]) });
  });
  const slow = mk(4000);
  add({ id: `1.${sub}.16`, group: '1', title: `${kind} message of 4000 octets written slowly (heartbeats land mid-frame)`, steps: [send([f(slow)], { every: 1000, pauseMs: 25 }), wait(1), close(1000)], expect: OK([e(slow)]) });
}

// Group 2: pings and pongs.
{
  const bytes8 = Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff]);
  const p125 = Buffer.alloc(125, 0xfe);
  const p126 = Buffer.alloc(126, 0xfe);
  add({ id: '2.1', group: '2', title: 'ping without payload', steps: [send([ping()]), wait(1), close(1000)], expect: OK([E.pong()]) });
  add({ id: '2.2', group: '2', title: 'ping with a small text payload', steps: [send([ping('Hello, world!')]), wait(1), close(1000)], expect: OK([E.pong('Hello, world!')]) });
  add({ id: '2.3', group: '2', title: 'ping with a small binary payload', steps: [send([ping(bytes8)]), wait(1), close(1000)], expect: OK([E.pong(bytes8)]) });
  add({ id: '2.4', group: '2', title: 'ping with a 125-octet payload', steps: [send([ping(p125)]), wait(1), close(1000)], expect: OK([E.pong(p125)]) });
  add({ id: '2.5', group: '2', title: 'ping with a 126-octet payload: fail', steps: [send([ping(p126)]), waitClose], expect: FAIL(), violations: ['control_too_long'] });
  add({ id: '2.6', group: '2', title: 'ping with a 125-octet payload, octet-wise', steps: [send([ping(p125)], 'octet'), wait(1), close(1000)], expect: OK([E.pong(p125)]) });
  add({ id: '2.7', group: '2', title: 'unsolicited pong without payload: no answer', steps: [send([pong()]), close(1000)], expect: OK([]) });
  add({ id: '2.8', group: '2', title: 'unsolicited pong with payload: no answer', steps: [send([pong('unsolicited pong payload')]), close(1000)], expect: OK([]) });
  add({ id: '2.9', group: '2', title: 'unsolicited pong, then ping: one pong', steps: [send([pong('ping payload'), ping('ping payload')]), wait(1), close(1000)], expect: OK([E.pong('ping payload')]) });
  const ten = Array.from({ length: 10 }, (_, i) => `payload-${i}`);
  add({ id: '2.10', group: '2', title: '10 pings in a row: 10 pongs', steps: [send(ten.map((t) => ping(t))), wait(10), close(1000)], expect: OK(ten.map((t) => E.pong(t))) });
  add({ id: '2.11', group: '2', title: '10 pings in a row, octet-wise: 10 pongs', steps: [send(ten.map((t) => ping(t)), 'octet'), wait(10), close(1000)], expect: OK(ten.map((t) => E.pong(t))) });
  // Not Autobahn: an application ping whose payload looks like wstap's nonce still gets its pong.
  const lookalike = Buffer.concat([Buffer.from('wstp'), Buffer.from('0123abcd')]);
  add({ id: '2.12', group: '2', title: "application ping that looks like wstap's: its pong passes", steps: [send([ping(lookalike)]), wait(1), close(1000)], expect: OK([E.pong(lookalike)]) });
  add({ id: '2.13', group: '2', title: 'binary ping payload, random chops, between data frames', steps: [send([text('before'), ping(bytes8), bin(bytes8), ping(p125)], 'random'), wait(4), close(1000)], expect: OK([E.text('before'), E.pong(bytes8), E.bin(bytes8), E.pong(p125)]) });
}

// Group 3: reserved bits (no extension negotiated).
{
  const hello = 'Hello, world!';
  add({ id: '3.1', group: '3', title: 'text with RSV = 1: fail', steps: [send([text(hello, { rsv: 1 })]), waitClose], expect: FAIL(), violations: ['reserved_bits'] });
  add({ id: '3.2', group: '3', title: 'text, text with RSV = 2, ping: echo, then fail', steps: [send([text(hello), text(hello, { rsv: 2 }), ping(hello)], 'whole'), waitClose], expect: FAIL([E.text(hello)]), violations: ['reserved_bits'] });
  add({ id: '3.3', group: '3', title: 'text, text with RSV = 3, ping, frame-wise: echo, then fail', steps: [send([text(hello), text(hello, { rsv: 3 }), ping(hello)], 'frame'), waitClose], expect: FAIL([E.text(hello)]), violations: ['reserved_bits'] });
  add({ id: '3.4', group: '3', title: 'text, text with RSV = 4, ping, octet-wise: echo, then fail', steps: [send([text(hello), text(hello, { rsv: 4 }), ping(hello)], 'octet'), waitClose], expect: FAIL([E.text(hello)]), violations: ['reserved_bits'] });
  add({ id: '3.5', group: '3', title: 'binary with RSV = 5: fail', steps: [send([bin(Buffer.alloc(8, 0xff), { rsv: 5 })]), waitClose], expect: FAIL(), violations: ['reserved_bits'] });
  add({ id: '3.6', group: '3', title: 'ping with RSV = 6: fail', steps: [send([ping(hello, { rsv: 6 })]), waitClose], expect: FAIL(), violations: ['reserved_bits'] });
  // The client sent a close first (wstap records it); ws fails it and answers 1002.
  add({ id: '3.7', group: '3', title: 'close with RSV = 7: fail', steps: [send([closeF(1000, '', { rsv: 7 })]), waitClose], expect: { close: 1002, by: 'client', frames: [] }, violations: ['reserved_bits'] });
}

// Group 4: reserved opcodes (3–7 data, 11–15 control).
for (const [sub, codes] of [
  [1, [3, 4, 5, 6, 7]],
  [2, [11, 12, 13, 14, 15]],
] as const) {
  const [a, b, c, d, e] = codes;
  const g = `4.${sub}`;
  const v: Violation[] = ['reserved_opcode'];
  add({ id: `${g}.1`, group: '4', title: `frame with reserved opcode ${a}: fail`, steps: [send([op(a)]), waitClose], expect: FAIL(), violations: v });
  add({ id: `${g}.2`, group: '4', title: `frame with reserved opcode ${b} and a payload: fail`, steps: [send([op(b, 'reserved opcode payload')]), waitClose], expect: FAIL(), violations: v });
  add({ id: `${g}.3`, group: '4', title: `text, reserved opcode ${c}, ping: echo, then fail`, steps: [send([text('Hello'), op(c), ping('Hello')], 'whole'), waitClose], expect: FAIL([E.text('Hello')]), violations: v });
  add({ id: `${g}.4`, group: '4', title: `text, reserved opcode ${d} with payload, ping, frame-wise: echo, then fail`, steps: [send([text('Hello'), op(d, 'payload'), ping('Hello')], 'frame'), waitClose], expect: FAIL([E.text('Hello')]), violations: v });
  add({ id: `${g}.5`, group: '4', title: `text, reserved opcode ${e} with payload, ping, octet-wise: echo, then fail`, steps: [send([text('Hello'), op(e, 'payload'), ping('Hello')], 'octet'), waitClose], expect: FAIL([E.text('Hello')]), violations: v });
}

// Group 5: fragmentation.
{
  const f1 = 'fragment1';
  const f2 = 'fragment2';
  const whole = f1 + f2;
  const frag2 = [text(f1, { fin: false }), cont(f2, true)];
  const frag2ping = [text(f1, { fin: false }), ping('pongme 2!'), cont(f2, true)];
  add({ id: '5.1', group: '5', title: 'ping in 2 fragments: fail', steps: [send([ping('fragment1', { fin: false }), cont('fragment2', true)]), waitClose], expect: FAIL(), violations: ['fragmented_control', 'unexpected_continuation'] });
  add({ id: '5.2', group: '5', title: 'pong in 2 fragments: fail', steps: [send([pong('fragment1', { fin: false }), cont('fragment2', true)]), waitClose], expect: FAIL(), violations: ['fragmented_control', 'unexpected_continuation'] });
  add({ id: '5.3', group: '5', title: 'text in 2 fragments', steps: [send(frag2), wait(1), close(1000)], expect: OK([E.text(whole)]) });
  add({ id: '5.4', group: '5', title: 'text in 2 fragments, octet-wise', steps: [send(frag2, 'octet'), wait(1), close(1000)], expect: OK([E.text(whole)]) });
  add({ id: '5.5', group: '5', title: 'text in 2 fragments, frame-wise with pauses', steps: [send(frag2, { every: 11, pauseMs: 10 }), wait(1), close(1000)], expect: OK([E.text(whole)]) });
  add({ id: '5.6', group: '5', title: 'text in 2 fragments, ping in between', steps: [send(frag2ping, 'whole'), wait(2), close(1000)], expect: OK([E.pong('pongme 2!'), E.text(whole)]) });
  add({ id: '5.7', group: '5', title: 'text in 2 fragments, ping in between, octet-wise', steps: [send(frag2ping, 'octet'), wait(2), close(1000)], expect: OK([E.pong('pongme 2!'), E.text(whole)]) });
  add({ id: '5.8', group: '5', title: 'text in 2 fragments, ping in between, frame-wise', steps: [send(frag2ping, 'frame'), wait(2), close(1000)], expect: OK([E.pong('pongme 2!'), E.text(whole)]) });
  const v: Violation[] = ['unexpected_continuation'];
  const noStart = (fin: boolean): F[] => [cont(f1, fin), text(f2)];
  (['whole', 'frame', 'octet'] as const).forEach((chop, i) => {
    add({ id: `5.${9 + i}`, group: '5', title: `continuation (FIN) with nothing to continue, then text, ${chop}: fail`, steps: [send(noStart(true), chop), waitClose], expect: FAIL(), violations: v });
    add({ id: `5.${12 + i}`, group: '5', title: `continuation (no FIN) with nothing to continue, then text, ${chop}: fail`, steps: [send(noStart(false), chop), waitClose], expect: FAIL(), violations: v });
  });
  add({ id: '5.15', group: '5', title: 'text in 2 fragments, then a continuation with nothing to continue, then text: echo, then fail', steps: [send([...frag2, cont('fragment3', false), text('fragment4')], 'whole'), waitClose], expect: FAIL([E.text(whole)]), violations: v });
  add({ id: '5.16', group: '5', title: '2x (continuation without FIN, nothing to continue; text in 2 fragments): fail', steps: [send([cont(f1, false), text(f2, { fin: false }), cont('fragment3', true), cont(f1, false), text(f2, { fin: false }), cont('fragment3', true)], 'whole'), waitClose], expect: FAIL(), violations: v });
  add({ id: '5.17', group: '5', title: '2x (continuation with FIN, nothing to continue; text in 2 fragments): fail', steps: [send([cont(f1, true), text(f2, { fin: false }), cont('fragment3', true), cont(f1, true), text(f2, { fin: false }), cont('fragment3', true)], 'whole'), waitClose], expect: FAIL(), violations: v });
  add({ id: '5.18', group: '5', title: 'text in 2 fragments, both with the text opcode: fail', steps: [send([text(f1, { fin: false }), text(f2)], 'whole'), waitClose], expect: FAIL(), violations: ['incomplete_message'] });
  const five = ['fragment1', 'fragment2', 'fragment3', 'fragment4', 'fragment5'];
  const s519 = (chop: Chop): Step[] => [
    send([text(five[0]!, { fin: false }), cont(five[1]!, false), ping('pongme 1!')], chop),
    wait(1),
    pause(60),
    send([cont(five[2]!, false), cont(five[3]!, false), ping('pongme 2!')], chop),
    wait(2),
    send([cont(five[4]!, true)], chop),
    wait(3),
    close(1000),
  ];
  const e519 = OK([E.pong('pongme 1!'), E.pong('pongme 2!'), E.text(five.join(''))]);
  add({ id: '5.19', group: '5', title: 'text in 5 fragments, pings after the 2nd and 4th, answered before the end', steps: s519('frame'), expect: e519 });
  add({ id: '5.20', group: '5', title: 'same as 5.19, written slowly', steps: s519({ every: 10, pauseMs: 8 }), expect: e519 });
}

// Group 6: UTF-8 handling (the endpoint, not the proxy, fails these: no violation).
{
  const kosme = Buffer.from('κόσμε', 'utf8');
  const hello = Buffer.from('Hello-µ@ßöäüàá-UTF-8!!', 'utf8');
  const surrogate = Buffer.concat([kosme, Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('edited')]);
  const perOctet = (d: Buffer): F[] => fragments(OP.text, d, 1);
  const valid = (id: string, title: string, d: Buffer, frames: F[] = [text(d)], chop?: Chop): void =>
    add({ id, group: '6', title, steps: [send(frames, chop), wait(1), close(1000)], expect: OK([E.text(d)]) });
  const invalid = (id: string, title: string, frames: F[], chop?: Chop): void =>
    add({ id, group: '6', title, steps: [send(frames, chop), waitClose], expect: FAIL([], 1007) });
  valid('6.1.1', 'empty text', Buffer.alloc(0));
  valid('6.1.2', 'empty text in 3 empty fragments', Buffer.alloc(0), [text('', { fin: false }), cont('', false), cont('', true)]);
  valid('6.1.3', 'text in 3 fragments, the first and last empty', Buffer.from('middle frame payload'), [text('', { fin: false }), cont('middle frame payload', false), cont('', true)]);
  valid('6.2.1', 'valid UTF-8 in one frame', hello);
  valid('6.2.2', 'valid UTF-8 in 2 fragments split at a code point', hello, [text(hello.subarray(0, 7), { fin: false }), cont(hello.subarray(7), true)]);
  valid('6.2.3', 'valid UTF-8 in 1-octet fragments (split inside code points)', hello, perOctet(hello));
  valid('6.2.4', 'valid UTF-8 (κόσμε) in 1-octet fragments, octet-wise', kosme, perOctet(kosme), 'octet');
  valid('6.5.1', 'κόσμε', kosme);
  valid('6.7.1', 'boundary code points U+007F, U+0080, U+07FF, U+0800, U+FFFF, U+10000, U+10FFFF', Buffer.from([0x7f, 0xc2, 0x80, 0xdf, 0xbf, 0xe0, 0xa0, 0x80, 0xef, 0xbf, 0xbf, 0xf0, 0x90, 0x80, 0x80, 0xf4, 0x8f, 0xbf, 0xbf]));
  invalid('6.3.1', 'invalid UTF-8 (a surrogate) in one frame: fail 1007', [text(surrogate)]);
  invalid('6.3.2', 'invalid UTF-8 (a surrogate) in 1-octet fragments: fail 1007', perOctet(surrogate));
  const p1 = kosme;
  const bad = Buffer.from([0xf4, 0x90, 0x80, 0x80]);
  const p3 = Buffer.from('edited');
  invalid('6.4.1', 'valid, out-of-range code point, valid: 3 fragments: fail 1007', [text(p1, { fin: false }), cont(bad, false), cont(p3, true)]);
  invalid('6.4.2', 'an invalid sequence split across fragments: fail 1007', [text(Buffer.concat([p1, bad.subarray(0, 1)]), { fin: false }), cont(bad.subarray(1, 2), false), cont(Buffer.concat([bad.subarray(2), p3]), true)]);
  invalid('6.4.3', 'same as 6.4.1, octet-wise', [text(p1, { fin: false }), cont(bad, false), cont(p3, true)], 'octet');
  invalid('6.4.4', 'a surrogate split across fragments, random chops', [text(Buffer.concat([kosme, Buffer.from([0xed])]), { fin: false }), cont(Buffer.from([0xa0]), false), cont(Buffer.from([0x80, 0x65]), true)], 'random');
  invalid('6.6.1', 'a lone continuation octet: fail 1007', [text(Buffer.from([0x80]))]);
  invalid('6.8.1', 'a 5-octet sequence: fail 1007', [text(Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80]))]);
  invalid('6.10.1', 'an overlong encoding of "/": fail 1007', [text(Buffer.from([0xc0, 0xaf]))]);
  invalid('6.11.1', 'U+110000: fail 1007', [text(bad)]);
  invalid('6.14.1', 'a text message ending inside a code point: fail 1007', [text(Buffer.from([0xce, 0xba, 0xe1, 0xbd]))]);
}

// Group 7: close handling.
{
  const hw = 'Hello World!';
  add({ id: '7.1.1', group: '7', title: 'text, then close 1000', steps: [send([text(hw)]), wait(1), close(1000)], expect: OK([E.text(hw)]) });
  add({ id: '7.1.2', group: '7', title: 'two close frames', steps: [send([closeF(1000), closeF(1000)], 'whole'), waitClose], expect: OK([]) });
  add({ id: '7.1.3', group: '7', title: 'close, then ping: no pong', steps: [send([closeF(1000), ping(hw)], 'whole'), waitClose], expect: OK([]) });
  add({ id: '7.1.4', group: '7', title: 'close, then text: no echo', steps: [send([closeF(1000), text(hw)], 'whole'), waitClose], expect: OK([]) });
  add({ id: '7.1.5', group: '7', title: 'first fragment, close, last fragment: no echo', steps: [send([text('fragment1', { fin: false }), closeF(1000), cont('fragment2', true)], 'whole'), waitClose], expect: OK([]) });
  add({ id: '7.1.6', group: '7', title: 'a 256 KiB text, close, ping: echo, then close', steps: () => [send([text(ascii(256 * 1024)), closeF(1000), ping(hw)], 'random'), waitClose], expect: OK([E.text(ascii(256 * 1024))]) });
  add({ id: '7.3.1', group: '7', title: 'close without payload', steps: [close(), waitClose], expect: OK([], 1005) });
  add({ id: '7.3.2', group: '7', title: 'close with a 1-octet payload: fail', steps: [send([op(OP.close, Buffer.from([0x03]))]), waitClose], expect: { frames: [], close: 1002, by: 'client' }, violations: ['bad_close_payload'] });
  add({ id: '7.3.3', group: '7', title: 'close with a code and no reason', steps: [close(1000), waitClose], expect: OK([]) });
  add({ id: '7.3.4', group: '7', title: 'close with a code and a reason', steps: [close(1000, hw), waitClose], expect: OK([]) });
  add({ id: '7.3.5', group: '7', title: 'close with a 123-octet reason', steps: [close(1000, '*'.repeat(123)), waitClose], expect: OK([]) });
  add({ id: '7.3.6', group: '7', title: 'close with a 124-octet reason (payload 126): fail', steps: [send([closeF(1000, '*'.repeat(124))]), waitClose], expect: FAIL(), violations: ['control_too_long'] });
  add({ id: '7.5.1', group: '7', title: 'close with an invalid UTF-8 reason: fail 1007', steps: [send([closeF(1000, Buffer.from([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64]))]), waitClose], expect: { frames: [], close: 1007, by: 'client' } });
  const reasons: Record<number, string> = { 1000: 'normal', 1001: 'going away', 3000: 'registered', 4999: 'private, the last one' };
  [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999].forEach((code, i) => {
    add({ id: `7.7.${i + 1}`, group: '7', title: `close with valid code ${code}${reasons[code] ? ' and a reason' : ''}`, steps: [close(code, reasons[code] ?? ''), waitClose], expect: OK([], code) });
  });
  [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999].forEach((code, i) => {
    add({ id: `7.9.${i + 1}`, group: '7', title: `close with invalid code ${code}: fail`, steps: [close(code), waitClose], expect: { frames: [], close: 1002, by: 'client' }, violations: ['invalid_close_code'] });
  });
  [5000, 65535].forEach((code, i) => {
    add({ id: `7.13.${i + 1}`, group: '7', title: `close with invalid code ${code} and a reason: fail`, steps: [close(code, 'out of range'), waitClose], expect: { frames: [], close: 1002, by: 'client' }, violations: ['invalid_close_code'] });
  });
}

// Group 9 (scaled down): large messages in one frame and in fragments of 4 KiB / 64 KiB.
{
  const sizes: [string, number][] = [
    ['64 KiB', 64 * 1024],
    ['1 MiB', 1024 * 1024],
    ['4 MiB', 4 * 1024 * 1024],
  ];
  for (const [kind, sub] of [
    ['text', 1],
    ['binary', 2],
  ] as const) {
    let n = 0;
    const opcode = kind === 'text' ? OP.text : OP.binary;
    for (const [name, size] of sizes) {
      // One payload per size, shared by its three framings (and its expected echo).
      const d = kind === 'text' ? utf8(size) : randomBytes(size, size + sub);
      const echo = frameDesc(opcode, d);
      for (const frag of [0, 4096, 65536]) {
        if (frag >= size) continue;
        n++;
        add({
          id: `9.${sub}.${n}`,
          group: '9',
          title: `${kind} message of ${name}${frag ? `, in fragments of ${frag / 1024} KiB` : ', in one frame'}`,
          steps: () => [send(frag ? fragments(opcode, d, frag) : [{ op: opcode, data: d }], size <= 65536 ? 'random' : 'frame'), wait(1), close(1000)],
          expect: OK([echo]),
          deadlineMs: 15_000,
        });
      }
    }
  }
}

// Group 10: autofragmentation.
{
  const d = ascii(65536, 3);
  add({ id: '10.1.1', group: '10', title: 'text of 64 KiB in frames of 1300 octets', steps: [send(fragments(OP.text, d, 1300)), wait(1), close(1000)], expect: OK([E.text(d)]) });
  const b = randomBytes(65536, 10);
  add({ id: '10.1.2', group: '10', title: 'binary of 64 KiB in frames of 1300 octets, random chops', steps: [send(fragments(OP.binary, b, 1300), 'random'), wait(1), close(1000)], expect: OK([E.bin(b)]) });
}

// Slow variants ("s"): the same scripts written a few octets at a time with pauses, so wstap's
// heartbeats (every 5 ms, on a 50 ms wheel) land in the middle of the case: its pings go between
// the client's frames (between fragments included) and reach the client while it is inside one
// of its own frames, so its pong waits for the end of that frame.
{
  const SLOW: Chop = { every: 8, pauseMs: 6 };
  const hello = 'Hello, world!';
  const ten = Array.from({ length: 10 }, (_, i) => `payload-${i}`);
  const f1 = 'fragment1';
  const f2 = 'fragment2';
  const slow = (c: Omit<ClientCase, 'steps' | 'heartbeats'> & { steps: readonly Step[] }): void => add({ ...c, heartbeats: true });
  slow({ id: '1.1.7s', group: '1', title: 'text of 160 octets, slowly', steps: [send([text(ascii(160))], SLOW), wait(1), close(1000)], expect: OK([E.text(ascii(160))]) });
  slow({ id: '2.10s', group: '2', title: '10 pings, slowly: 10 pongs', steps: [send(ten.map((t) => ping(t)), SLOW), wait(10), close(1000)], expect: OK(ten.map((t) => E.pong(t))) });
  slow({ id: '3.2s', group: '3', title: 'text, text with RSV = 2, ping, slowly: echo, then fail', steps: [send([text(ascii(200)), text(hello, { rsv: 2 }), ping(hello)], SLOW), waitClose], expect: FAIL([E.text(ascii(200))]), violations: ['reserved_bits'] });
  slow({ id: '4.1.3s', group: '4', title: 'text, ping, reserved opcode 5, slowly: echo, pong, then fail', steps: [send([text(hello), ping(hello), text(ascii(150)), op(5), ping(hello)], SLOW), waitClose], expect: FAIL([E.text(hello), E.pong(hello), E.text(ascii(150))]), violations: ['reserved_opcode'] });
  slow({ id: '5.6s', group: '5', title: 'text in 2 fragments, ping in between, slowly', steps: [send([text(ascii(80), { fin: false }), ping('pongme 2!'), cont(ascii(80, 1), true)], SLOW), wait(2), close(1000)], expect: OK([E.pong('pongme 2!'), E.text(Buffer.concat([ascii(80), ascii(80, 1)]))]) });
  slow({ id: '5.15s', group: '5', title: 'text in 2 fragments, continuation with nothing to continue, text, slowly: echo, then fail', steps: [send([text(ascii(200), { fin: false }), cont(f2, true), cont('fragment3', false), text('fragment4')], SLOW), waitClose], expect: FAIL([E.text(Buffer.concat([ascii(200), Buffer.from(f2)]))]), violations: ['unexpected_continuation'] });
  slow({ id: '6.4.2s', group: '6', title: 'an invalid sequence split across fragments, slowly: fail 1007', steps: [send([text(Buffer.concat([ascii(150), Buffer.from([0xf4])]), { fin: false }), cont(Buffer.from([0x90]), false), cont(Buffer.concat([Buffer.from([0x80, 0x80]), ascii(60)]), true)], SLOW), waitClose], expect: FAIL([], 1007) });
  slow({ id: '7.1.5s', group: '7', title: 'first fragment, close, last fragment, slowly: no echo', steps: [send([text(ascii(200), { fin: false }), closeF(1000, 'bye'), cont(f1, true)], SLOW), waitClose], expect: OK([]) });
}

// Not Autobahn, from research §6 #10: masking and length encodings.
add({ id: 'x.1', group: 'x', title: 'an unmasked client frame: fail', steps: [send([text('unmasked', { mask: false })]), waitClose], expect: FAIL(), violations: ['mask_required'] });
add({ id: 'x.2', group: 'x', title: 'a 5-octet text with a 16-bit length: echoed (ws does not insist on minimal lengths)', steps: [send([text('short', { enc: 16 })]), wait(1), close(1000)], expect: OK([E.text('short')]), violations: ['non_minimal_length'] });
add({ id: 'x.3', group: 'x', title: 'a 200-octet binary with a 64-bit length', steps: [send([bin(Buffer.alloc(200, 7), { enc: 64 })], 'octet'), wait(1), close(1000)], expect: OK([E.bin(Buffer.alloc(200, 7))]), violations: ['non_minimal_length'] });
add({ id: 'x.4', group: 'x', title: 'a 64-bit length with the MSB set: fail 1009', steps: [send([bin('abc', { declared: 1n << 63n })]), waitClose], expect: FAIL([], 1009), violations: ['length_too_large'] });

// Groups 12–13: permessage-deflate.
function jsonish(n: number, seed: number): Buffer {
  const p = new Prng(seed);
  let s = '';
  while (s.length < n) s += JSON.stringify({ id: p.int(0, 1e6), name: `user-${p.int(0, 999)}`, tags: ['alpha', 'beta', 'gamma'].slice(0, p.int(1, 3)), ok: p.next() < 0.5 });
  return Buffer.from(s.slice(0, n));
}
function compressibleBinary(n: number, seed: number): Buffer {
  const p = new Prng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = p.next() < 0.7 ? i & 0x0f : p.int(0, 255);
  return b;
}
{
  const COUNT = 4;
  const SIZES = [16, 64, 256, 1024, 4096, 16384, 65536];
  const offer = 'permessage-deflate; client_max_window_bits';
  let i = 0;
  for (const size of SIZES) {
    for (const binary of [false, true]) {
      i++;
      const msgs = Array.from({ length: COUNT }, (_, k) => ({ data: binary ? compressibleBinary(size, size * 10 + k) : jsonish(size, size * 10 + k), binary }));
      add({
        id: `12.1.${i}`,
        group: '12',
        title: `${COUNT} compressed ${binary ? 'binary' : 'text'} messages of ${size} octets`,
        backend: 'deflate',
        offer,
        steps: [{ msgs }, wait(COUNT), close(1000)],
        expect: { messages: msgs.map((m) => msgDesc(binary, m.data)), close: 1000, by: 'client' },
      });
    }
  }
  i = 0;
  for (const [size, frag] of [
    [4096, 256],
    [65536, 1024],
    [65536, 16384],
  ] as const) {
    i++;
    const msgs: M[] = Array.from({ length: COUNT }, (_, k) => ({ data: jsonish(size, size + k), frag }));
    add({
      id: `12.2.${i}`,
      group: '12',
      title: `${COUNT} compressed text messages of ${size} octets, fragmented into ${frag}-octet frames, random chops`,
      backend: 'deflate',
      offer,
      steps: [{ msgs, chop: 'random' }, wait(COUNT), close(1000)],
      expect: { messages: msgs.map((m) => msgDesc(false, m.data)), close: 1000, by: 'client' },
    });
  }
  const mixed = (seed: number): M[] => [
    { data: jsonish(64, seed) },
    { data: jsonish(4096, seed + 1) },
    { data: compressibleBinary(1024, seed + 2), binary: true },
    { data: jsonish(4096, seed + 1) },
    { data: jsonish(65536, seed + 3), frag: 4096 },
    { data: Buffer.from('uncompressed in a compressed session'), compress: false },
    { data: jsonish(300, seed + 4) },
  ];
  const params: [string, string, BackendKind][] = [
    ['permessage-deflate', 'default parameters', 'deflate'],
    ['permessage-deflate; client_no_context_takeover', 'client_no_context_takeover', 'deflate'],
    ['permessage-deflate; server_no_context_takeover', 'server_no_context_takeover', 'deflate'],
    ['permessage-deflate; client_no_context_takeover; server_no_context_takeover', 'no context takeover either way', 'deflate'],
    ['permessage-deflate; client_max_window_bits=9', 'client_max_window_bits=9', 'deflate'],
    ['permessage-deflate; client_max_window_bits=12; server_max_window_bits=10', 'client_max_window_bits=12, server_max_window_bits=10', 'deflate'],
    ['permessage-deflate; server_max_window_bits=9; client_max_window_bits', 'server_max_window_bits=9', 'deflate'],
    ['permessage-deflate; client_max_window_bits', 'a server without context takeover', 'deflate-noctx'],
  ];
  params.forEach(([o, name, backend], k) => {
    const msgs = mixed(100 * k);
    add({
      id: `13.${k + 1}.1`,
      group: '13',
      title: `mixed compressed messages, ${name}`,
      backend,
      offer: o,
      steps: [{ msgs }, wait(msgs.length), close(1000)],
      // The server compresses every echo (threshold 0), even of a message it got uncompressed.
      expect: { messages: msgs.map((m) => msgDesc(m.binary ?? false, m.data)), close: 1000, by: 'client' },
    });
  });
  {
    const msgs: M[] = [{ data: jsonish(2000, 7), frag: 100 }, { data: jsonish(300, 8) }, { data: compressibleBinary(500, 9), binary: true, frag: 64 }];
    add({
      id: '13.10.1',
      group: '13',
      title: 'fragmented compressed messages written slowly (heartbeats between fragments)',
      backend: 'deflate',
      offer,
      heartbeats: true,
      steps: [{ msgs, chop: { every: 40, pauseMs: 6 } }, wait(msgs.length), close(1000)],
      expect: { messages: msgs.map((m) => msgDesc(m.binary ?? false, m.data)), close: 1000, by: 'client' },
    });
  }
  // Invalid with permessage-deflate negotiated.
  add({ id: '13.9.1', group: '13', title: 'RSV1 on a continuation frame: fail', backend: 'deflate', offer, steps: [send([text('abc', { fin: false }), cont('def', true, { rsv: 4 })]), waitClose], expect: FAIL(), violations: ['reserved_bits'] });
  add({ id: '13.9.2', group: '13', title: 'RSV1 on a ping: fail', backend: 'deflate', offer, steps: [send([ping('abc', { rsv: 4 })]), waitClose], expect: FAIL(), violations: ['reserved_bits'] });
  add({ id: '13.9.3', group: '13', title: 'RSV2 on a text frame with deflate negotiated: fail', backend: 'deflate', offer, steps: [send([text('abc', { rsv: 2 })]), waitClose], expect: FAIL(), violations: ['reserved_bits'] });
  add({ id: '13.9.4', group: '13', title: 'RSV1 text whose payload is not deflate data: fail 1007', backend: 'deflate', offer, steps: [send([text(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x01]), { rsv: 4 })]), waitClose], expect: FAIL([], 1007) });
  add({ id: '13.9.5', group: '13', title: 'RSV1 text without deflate negotiated (no offer): fail', backend: 'deflate', steps: [send([text('abc', { rsv: 4 })]), waitClose], expect: FAIL(), violations: ['reserved_bits'] });
}

// ─── raw backend → ws client ──────────────────────────────────────────────────────────────────

export const backendCases: BackendCase[] = [];
const addB = (c: Omit<BackendCase, 'steps'> & { steps: readonly Step[] | (() => readonly Step[]) }): void => {
  const s = c.steps;
  backendCases.push({ ...c, steps: typeof s === 'function' ? s : () => s });
};
const hex = (b: Buffer | string): string => buf(b).toString('hex');
const W = {
  text: (d: Buffer | string): string => `message text ${payloadDesc(buf(d))}`,
  bin: (d: Buffer | string): string => `message binary ${payloadDesc(buf(d))}`,
  ping: (d: Buffer | string = ''): string => `ping ${payloadDesc(buf(d))}`,
  pong: (d: Buffer | string = ''): string => `pong ${payloadDesc(buf(d))}`,
  close: (code: number, reason: Buffer | string = ''): string => `close ${code} ${hex(reason)}`,
  error: (code: string, message: string): string => `error ${code} ${message}`,
};
/** A ws client failing the connection: its error, then close 1006 (it got no close frame back). */
const wsFail = (code: string, message: string, code2 = 1006): string[] => [W.error(code, message), W.close(code2)];
const bclose = (code = 1000, reason = ''): Step => close(code, reason);
{
  const g1 = (len: number): Buffer => ascii(len, len + 5);
  [0, 125, 126, 127, 65535, 65536].forEach((len, i) => {
    const d = g1(len);
    addB({ id: `b1.1.${i + 1}`, group: 'b1', title: `server text of ${len} octets`, steps: [send([text(d)], len > 1000 ? 'random' : 'octet'), bclose(), waitClose], client: [W.text(d), W.close(1000)], first: { by: 'server', code: 1000 } });
  });
  const b = randomBytes(70000, 3);
  addB({ id: 'b1.2.1', group: 'b1', title: 'server binary of 70000 octets, slow chops', steps: [send([bin(b)], { every: 20000, pauseMs: 20 }), bclose(), waitClose], client: [W.bin(b), W.close(1000)], first: { by: 'server', code: 1000 } });

  addB({ id: 'b2.1', group: 'b2', title: 'server ping: the client pongs', steps: [send([ping('are you there')]), wait(1), bclose(), waitClose], client: [W.ping('are you there'), W.close(1000)], first: { by: 'server', code: 1000 } });
  addB({ id: 'b2.2', group: 'b2', title: 'server empty ping and 125-octet ping, octet-wise', steps: [send([ping(), ping(Buffer.alloc(125, 1))], 'octet'), wait(2), bclose(), waitClose], client: [W.ping(), W.ping(Buffer.alloc(125, 1)), W.close(1000)], first: { by: 'server', code: 1000 } });
  addB({ id: 'b2.3', group: 'b2', title: 'server unsolicited pong', steps: [send([pong('heartbeat')]), bclose(), waitClose], client: [W.pong('heartbeat'), W.close(1000)], first: { by: 'server', code: 1000 } });
  addB({ id: 'b2.4', group: 'b2', title: 'server ping of 126 octets: the client fails', steps: [send([ping(Buffer.alloc(126, 2))]), waitClose], client: wsFail('WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH', 'Invalid WebSocket frame: invalid payload length 126'), first: { by: 'client', code: 1002 }, violations: ['control_too_long'] });

  // The ws client leaves this ping out of what it saw (it looks like wstap's); its pong reaches the backend.
  const lookalike = Buffer.from('wstp-lookalk');
  addB({ id: 'b2.5', group: 'b2', title: "server ping that looks like wstap's: the client's pong passes", steps: [send([ping(lookalike)]), wait(1), bclose(), waitClose], client: [W.close(1000)], first: { by: 'server', code: 1000 } });

  addB({ id: 'b3.1', group: 'b3', title: 'server text with RSV1, no extension: the client fails', steps: [send([text('abc', { rsv: 4 })]), waitClose], client: wsFail('WS_ERR_UNEXPECTED_RSV_1', 'Invalid WebSocket frame: RSV1 must be clear'), first: { by: 'client', code: 1002 }, violations: ['reserved_bits'] });
  addB({ id: 'b3.2', group: 'b3', title: 'server text, then ping with RSV2: echo, then the client fails', steps: [send([text('first'), ping('x', { rsv: 2 })], 'whole'), waitClose], client: [W.text('first'), ...wsFail('WS_ERR_UNEXPECTED_RSV_2_3', 'Invalid WebSocket frame: RSV2 and RSV3 must be clear')], first: { by: 'client', code: 1002 }, violations: ['reserved_bits'] });

  addB({ id: 'b4.1', group: 'b4', title: 'server frame with reserved opcode 3: the client fails', steps: [send([op(3, 'x')]), waitClose], client: wsFail('WS_ERR_INVALID_OPCODE', 'Invalid WebSocket frame: invalid opcode 3'), first: { by: 'client', code: 1002 }, violations: ['reserved_opcode'] });
  addB({ id: 'b4.2', group: 'b4', title: 'server text, reserved opcode 11, octet-wise', steps: [send([text('Hello'), op(11)], 'octet'), waitClose], client: [W.text('Hello'), ...wsFail('WS_ERR_INVALID_OPCODE', 'Invalid WebSocket frame: invalid opcode 11')], first: { by: 'client', code: 1002 }, violations: ['reserved_opcode'] });

  addB({ id: 'b5.1', group: 'b5', title: 'server text in 3 fragments', steps: [send([text('frag1-', { fin: false }), cont('frag2-', false), cont('frag3', true)], 'random'), bclose(), waitClose], client: [W.text('frag1-frag2-frag3'), W.close(1000)], first: { by: 'server', code: 1000 } });
  addB({ id: 'b5.2', group: 'b5', title: 'server fragmented binary with a ping in between, octet-wise', steps: [send([bin('ab', { fin: false }), ping('mid'), cont('cd', true)], 'octet'), wait(1), bclose(), waitClose], client: [W.ping('mid'), W.bin('abcd'), W.close(1000)], first: { by: 'server', code: 1000 } });
  addB({ id: 'b5.3', group: 'b5', title: 'server continuation with nothing to continue: the client fails', steps: [send([cont('x', true)]), waitClose], client: wsFail('WS_ERR_INVALID_OPCODE', 'Invalid WebSocket frame: invalid opcode 0'), first: { by: 'client', code: 1002 }, violations: ['unexpected_continuation'] });
  addB({ id: 'b5.4', group: 'b5', title: 'server text during a fragmented text: the client fails', steps: [send([text('a', { fin: false }), text('b')], 'whole'), waitClose], client: wsFail('WS_ERR_INVALID_OPCODE', 'Invalid WebSocket frame: invalid opcode 1'), first: { by: 'client', code: 1002 }, violations: ['incomplete_message'] });
  addB({ id: 'b5.5', group: 'b5', title: 'server fragmented ping: the client fails', steps: [send([ping('a', { fin: false }), cont('b', true)]), waitClose], client: wsFail('WS_ERR_EXPECTED_FIN', 'Invalid WebSocket frame: FIN must be set'), first: { by: 'client', code: 1002 }, violations: ['fragmented_control', 'unexpected_continuation'] });

  addB({ id: 'b6.1', group: 'b6', title: 'server invalid UTF-8 text: the client fails 1007', steps: [send([text(Buffer.from([0xce, 0xba, 0xed, 0xa0, 0x80]))]), waitClose], client: wsFail('WS_ERR_INVALID_UTF8', 'Invalid WebSocket frame: invalid UTF-8 sequence'), first: { by: 'client', code: 1007 } });
  addB({ id: 'b6.2', group: 'b6', title: 'server invalid UTF-8 split across fragments, octet-wise', steps: [send([text(Buffer.from([0xce, 0xba, 0xf4]), { fin: false }), cont(Buffer.from([0x90, 0x80, 0x80]), true)], 'octet'), waitClose], client: wsFail('WS_ERR_INVALID_UTF8', 'Invalid WebSocket frame: invalid UTF-8 sequence'), first: { by: 'client', code: 1007 } });

  addB({ id: 'b7.1', group: 'b7', title: 'server close without payload', steps: [close(), waitClose], client: [W.close(1005)], first: { by: 'server', code: 1005 } });
  for (const [i, [code, reason]] of ([
    [1000, 'bye'],
    [1001, 'going away'],
    [3000, ''],
    [4999, '*'.repeat(123)],
  ] as const).entries()) {
    addB({ id: `b7.2.${i + 1}`, group: 'b7', title: `server close ${code}${reason ? ` with a ${reason.length}-octet reason` : ''}`, steps: [bclose(code, reason), waitClose], client: [W.close(code, reason)], first: { by: 'server', code } });
  }
  for (const [i, code] of [0, 999, 1005, 1006, 1015, 5000].entries()) {
    addB({ id: `b7.3.${i + 1}`, group: 'b7', title: `server close with invalid code ${code}: the client fails`, steps: [bclose(code), waitClose], client: wsFail('WS_ERR_INVALID_CLOSE_CODE', `Invalid WebSocket frame: invalid status code ${code}`), first: { by: 'server', code }, violations: ['invalid_close_code'] });
  }
  addB({ id: 'b7.4', group: 'b7', title: 'server close with a 1-octet payload: the client fails', steps: [send([op(OP.close, Buffer.from([3]))]), waitClose], client: wsFail('WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH', 'Invalid WebSocket frame: invalid payload length 1'), first: { by: 'server', code: 1005 }, violations: ['bad_close_payload'] });
  addB({ id: 'b7.5', group: 'b7', title: 'server close, then text: the text is ignored', steps: [send([closeF(1000, 'done'), text('after close')], 'whole'), waitClose], client: [W.close(1000, 'done')], first: { by: 'server', code: 1000 } });
  const SLOWB: Chop = { every: 8, pauseMs: 6 };
  addB({ id: 'b5.2s', group: 'b5', title: 'server fragmented text with pings in between, slowly', heartbeats: true, steps: [send([text(ascii(60), { fin: false }), ping('one'), cont(ascii(60, 2), false), ping('two'), cont('end', true)], SLOWB), wait(2), bclose(), waitClose], client: [W.ping('one'), W.ping('two'), W.text(Buffer.concat([ascii(60), ascii(60, 2), Buffer.from('end')])), W.close(1000)], first: { by: 'server', code: 1000 } });
  addB({ id: 'b3.2s', group: 'b3', title: 'server text, then ping with RSV2, slowly', heartbeats: true, steps: [send([text(ascii(200)), ping('x', { rsv: 2 })], SLOWB), waitClose], client: [W.text(ascii(200)), ...wsFail('WS_ERR_UNEXPECTED_RSV_2_3', 'Invalid WebSocket frame: RSV2 and RSV3 must be clear')], first: { by: 'client', code: 1002 }, violations: ['reserved_bits'] });
  addB({ id: 'bx.1', group: 'bx', title: 'server sends a masked frame: the client fails', steps: [send([text('masked', { mask: true })]), waitClose], client: wsFail('WS_ERR_UNEXPECTED_MASK', 'Invalid WebSocket frame: MASK must be clear'), first: { by: 'client', code: 1002 }, violations: ['mask_forbidden'] });
}

/** Seed of a case: from its id, so a run is reproducible. */
export function seedOf(id: string): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  return h >>> 0;
}
