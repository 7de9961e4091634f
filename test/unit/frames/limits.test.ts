/**
 * `maxMessageBytes`: decided from the frame header, before any of the frame is forwarded; the
 * payload lengths of a fragmented message add up toward it; after `tooBig` nothing more flows.
 *
 * Run: npx vitest run test/unit/frames
 */
import { describe, expect, it } from 'vitest';
import { closeFrame } from '../../../src/frames/close.js';
import { checkEveryChunking, filler, frame, hex, runTap, Tap } from '../../helpers/frames.js';

const MAX = 10;
const lim = (masked = false) => ({ masked, maxMessageBytes: MAX });

describe('maxMessageBytes, every chunking', () => {
  it('a frame over the limit: tooBig, and nothing of it (not even its header) is forwarded', () => {
    const before = Buffer.concat([hex('81 02 68 69'), hex('89 00')]);
    const input = Buffer.concat([before, frame({ opcode: 2, payload: filler(MAX + 1) }), hex('81 00')]);
    checkEveryChunking(input, lim(), { output: before, log: ['message 1 2', 'control 9 ', 'tooBig'], stopped: true });
  });

  it('a masked frame over the limit, 16-bit length', () => {
    const before = frame({ opcode: 1, payload: 'ok', mask: true });
    const input = Buffer.concat([before, frame({ opcode: 2, payload: filler(300), mask: true })]);
    checkEveryChunking(input, lim(true), { output: before, log: ['message 1 2', 'tooBig'], stopped: true });
  });

  it('a frame of exactly the limit passes, and so does a zero-length frame after it', () => {
    const input = Buffer.concat([frame({ opcode: 2, fin: false, payload: filler(MAX) }), hex('80 00')]);
    checkEveryChunking(input, lim(), { log: [`message 2 ${MAX}`] });
  });

  it('fragments add up: the fragment that crosses the limit is refused, with a ping between', () => {
    const before = Buffer.concat([hex('01 04 61 62 63 64'), hex('00 04 65 66 67 68'), hex('89 01 70')]);
    const input = Buffer.concat([before, hex('80 03 69 6a 6b'), hex('81 00')]);
    checkEveryChunking(input, lim(), { output: before, log: ['control 9 70', 'tooBig'], stopped: true });
  });

  it('the count restarts with each message', () => {
    const input = Buffer.concat([
      frame({ opcode: 1, payload: filler(MAX) }),
      frame({ opcode: 2, fin: false, payload: filler(MAX - 1) }),
      frame({ opcode: 0, payload: filler(1) }),
      frame({ opcode: 1, payload: filler(MAX) }),
    ]);
    checkEveryChunking(input, lim(), { log: [`message 1 ${MAX}`, `message 2 ${MAX}`, `message 1 ${MAX}`] });
  });

  it('a stray continuation does not inherit the size of the message before it', () => {
    const input = Buffer.concat([frame({ opcode: 1, payload: filler(8) }), frame({ opcode: 0, payload: filler(5) })]);
    checkEveryChunking(input, lim(), { log: ['message 1 8', 'violation unexpected_continuation'] });
  });

  it('a new message inside a fragmented one starts its own count', () => {
    const input = Buffer.concat([frame({ opcode: 1, fin: false, payload: filler(8) }), frame({ opcode: 2, payload: filler(8) })]);
    checkEveryChunking(input, lim(), { log: ['violation incomplete_message', 'message 2 8'] });
  });

  it('control frames do not count toward the limit', () => {
    const input = Buffer.concat([frame({ opcode: 9, payload: filler(125) }), frame({ opcode: 8, payload: hex('03 e8') })]);
    checkEveryChunking(input, lim(), { log: [`control 9 ${filler(125).toString('hex')}`, 'control 8 03e8'] });
  });

  it('a declared length beyond 2^53 is over any limit: refused, not waved through', () => {
    const before = hex('81 01 61');
    const input = Buffer.concat([before, hex('82 7f 10 00 00 00 00 00 00 00'), filler(40)]);
    checkEveryChunking(input, lim(), { output: before, log: ['message 1 1', 'violation length_too_large', 'tooBig'], stopped: true });
    // Without a limit the framing is lost and the bytes flow, unparsed.
    checkEveryChunking(input, {}, { log: ['message 1 1', 'violation length_too_large'], stopped: true });
  });

  it('0 means unlimited', () => {
    const input = frame({ opcode: 2, payload: filler(70_000) });
    checkEveryChunking(input, { maxMessageBytes: 0 }, { log: ['message 2 70000'] });
  });
});

describe('after tooBig', () => {
  it('nothing more is forwarded, whatever arrives', () => {
    const tap = runTap([hex('82 7e 01 00'), filler(256), hex('81 00 89 00')], lim());
    expect(tap.output.length).toBe(0);
    expect(tap.log).toEqual(['tooBig']);
    expect(tap.parser.stopped).toBe(true);
    expect(tap.parser.midFrame).toBe(false);
  });

  it('the stream ends at a boundary: a close frame can be written right away (inject says so)', () => {
    const close = closeFrame(1009, 'message too big', false);
    const tap = new Tap(lim(), { onTooBig: (t) => void t.inject(close) });
    tap.feed([hex('81 01 61 82'), hex('0b'), filler(11)]);
    expect(tap.log).toEqual(['message 1 1', 'tooBig']);
    expect(tap.parser.atBoundary).toBe(true);
    expect(tap.injections.map((j) => j.now)).toEqual([true]);
    expect(tap.output).toEqual(Buffer.concat([hex('81 01 61'), close]));
    expect(tap.inject(closeFrame(1001, '', false))).toBe(true);
  });

  it('a frame injected from violation() on the refused frame goes out before it stops', () => {
    // Unmasked toward the backend (a violation) and too big: the sink answers the violation.
    const input = Buffer.concat([frame({ opcode: 1, payload: 'ok', mask: true }), frame({ opcode: 2, payload: filler(20) })]);
    for (let at = 1; at < input.length; at++) {
      const tap = new Tap(lim(true), { onViolation: (t) => void t.inject(hex('88 02 03 f0')) });
      tap.feed([input.subarray(0, at), input.subarray(at)]);
      expect(tap.log, `split@${at}`).toEqual(['message 1 2', 'violation mask_required', 'tooBig']);
      expect(tap.output, `split@${at}`).toEqual(Buffer.concat([input.subarray(0, 8), hex('88 02 03 f0')]));
    }
  });

  it('a frame queued mid-payload before the refused frame goes out before it stops', () => {
    const tap = new Tap(lim());
    tap.parser.push(hex('82 04 01 02'));
    expect(tap.inject(hex('89 00'))).toBe(false);
    tap.parser.push(Buffer.concat([hex('03 04'), frame({ opcode: 2, payload: filler(20) })]));
    expect(tap.output).toEqual(hex('82 04 01 02 03 04 89 00'));
    expect(tap.log).toEqual(['message 2 4', 'tooBig']);
  });
});
