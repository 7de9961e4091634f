/**
 * The proxy's own frames (`controlFrame`, `closeFrame`) read back by `ws`'s Receiver — the way
 * a real peer reads them — and by our own tap; `closeCodeOf` on passing close payloads.
 *
 * Run: npx vitest run test/unit/frames
 */
import { describe, expect, it } from 'vitest';
import { closeCodeOf, closeFrame, controlFrame, NO_STATUS } from '../../../src/frames/close.js';
import { hex, maskBytes, runTap, WsReceiver } from '../../helpers/frames.js';

/** Read one frame with a ws Receiver with UTF-8 validation on; what it reported. */
function wsRead(frame: Buffer, isServer: boolean): { ping?: Buffer; pong?: Buffer; close?: { code: number; reason: string }; error?: string } {
  const r = new WsReceiver({ isServer });
  const got: ReturnType<typeof wsRead> = {};
  r.on('ping', (d) => void (got.ping = Buffer.from(d)));
  r.on('pong', (d) => void (got.pong = Buffer.from(d)));
  r.on('conclude', (code, reason) => void (got.close = { code, reason: reason.toString('utf8') }));
  r._write(frame, 'buffer', (err) => {
    if (err) got.error = (err as NodeJS.ErrnoException).code ?? err.message;
  });
  return got;
}

describe.each([
  ['masked (toward the backend)', true],
  ['unmasked (toward the client)', false],
] as const)('the proxy frames, %s', (_name, mask) => {
  it('controlFrame: a ping and a pong that ws reads back, FIN set, RSV clear', () => {
    for (const size of [0, 1, 4, 5, 18, 125]) {
      const payload = Buffer.from(Array.from({ length: size }, (_, i) => (i * 37 + 11) & 0xff));
      const ping = controlFrame(0x9, payload, mask);
      expect(ping[0]).toBe(0x89);
      expect((ping[1]! & 0x80) !== 0).toBe(mask);
      expect(ping[1]! & 0x7f).toBe(size);
      expect(ping.length).toBe(2 + (mask ? 4 : 0) + size);
      expect(wsRead(ping, mask)).toEqual({ ping: payload });
      expect(wsRead(controlFrame(0xa, payload, mask), mask)).toEqual({ pong: payload });
      // ws on the wrong side of the connection rejects it: the mask bit is right for its direction.
      expect(wsRead(ping, !mask).error).toBe(mask ? 'WS_ERR_UNEXPECTED_MASK' : 'WS_ERR_EXPECTED_MASK');
    }
  });

  it('controlFrame: our own tap reads it back as a well-formed control frame', () => {
    const payload = Buffer.from('wstap-ping-0001');
    const tap = runTap([controlFrame(0x9, payload, mask)], { masked: mask });
    expect(tap.log).toEqual([`control 9 ${payload.toString('hex')}`]);
  });

  it('closeFrame: code and reason read back by ws', () => {
    for (const [code, reason] of [
      [1000, ''],
      [1001, 'going away'],
      [1009, 'message too big'],
      [1014, 'backend went away'],
      [4000, 'app'],
    ] as const) {
      expect(wsRead(closeFrame(code, reason, mask), mask)).toEqual({ close: { code, reason } });
    }
  });

  it('closeFrame: a long ASCII reason is cut to 123 bytes (a 125-byte payload)', () => {
    const f = closeFrame(1011, 'x'.repeat(300), mask);
    expect(f[1]! & 0x7f).toBe(125);
    expect(wsRead(f, mask)).toEqual({ close: { code: 1011, reason: 'x'.repeat(123) } });
  });

  it('closeFrame: a long multi-byte reason is cut at a character boundary (valid UTF-8)', () => {
    for (const ch of ['é', '€', '😀']) {
      for (let pad = 0; pad < 4; pad++) {
        const reason = 'a'.repeat(pad) + ch.repeat(100);
        const got = wsRead(closeFrame(1008, reason, mask), mask);
        expect(got.error, `${JSON.stringify(ch)} after ${pad} ASCII`).toBeUndefined();
        const bytes = Buffer.byteLength(got.close!.reason);
        expect(bytes).toBeLessThanOrEqual(123);
        expect(bytes).toBeGreaterThan(123 - Buffer.byteLength(ch));
        expect(reason.startsWith(got.close!.reason)).toBe(true);
      }
    }
  });

  it('the masking key is fresh for every frame', () => {
    const keys = new Set<string>();
    for (let i = 0; i < 64; i++) {
      const f = closeFrame(1000, 'bye', mask);
      keys.add(mask ? f.subarray(2, 6).toString('hex') : 'none');
    }
    expect(keys.size).toBe(mask ? 64 : 1);
  });
});

describe('controlFrame and closeCodeOf, edges', () => {
  it('two masked frames of the same payload differ on the wire, and both unmask to it', () => {
    const p = Buffer.from('same payload');
    const a = controlFrame(0x9, p, true);
    const b = controlFrame(0x9, p, true);
    expect(a.subarray(2, 6).equals(b.subarray(2, 6))).toBe(false);
    expect(maskBytes(a.subarray(6), a.subarray(2, 6))).toEqual(p);
    expect(maskBytes(b.subarray(6), b.subarray(2, 6))).toEqual(p);
  });

  it('controlFrame refuses a payload over 125 bytes rather than write a lying header', () => {
    expect(() => controlFrame(0x9, Buffer.alloc(126), false)).toThrow(RangeError);
    expect(() => controlFrame(0x9, Buffer.alloc(125), true)).not.toThrow();
  });

  it('closeCodeOf: the code, or 1005 for an empty or 1-byte body', () => {
    expect(closeCodeOf(hex('03 e8'))).toBe(1000);
    expect(closeCodeOf(hex('0f a0 68 69'))).toBe(4000);
    expect(closeCodeOf(hex(''))).toBe(NO_STATUS);
    expect(closeCodeOf(hex('03'))).toBe(1005);
  });
});

it('each masked frame has a fresh key, across more frames than one batch of random bytes holds', () => {
  const keys = new Set<string>();
  for (let i = 0; i < 5000; i++) keys.add(controlFrame(0x9, Buffer.alloc(0), true).subarray(2, 6).toString('hex'));
  // 5,000 draws of 32 random bits repeat one about once in 340 runs; more than one means reused keys.
  expect(keys.size).toBeGreaterThanOrEqual(4999);
});
