import { describe, expect, it } from 'vitest';
import { addRange, resumeBound, settleRanges, type DeferredRange } from './watermarks.js';

const r = (from: number | null, to: number): DeferredRange => ({ from, to, reason: 'device_rate_limited' });

describe('outstanding deferred ranges', () => {
  it.each([
    ['covered ranges are dropped', [r(71, 100)], 100, []],
    ['a range the watermark entered loses its start', [r(71, 100)], 80, [r(null, 100)]],
    ['ranges above stay as they are, lowest first', [r(107, 108), r(97, 104)], 90, [r(97, 104), r(107, 108)]],
    ['the trace that lost 105..106: 97..104 accepted, 105..106 still bounds', [r(97, 104), r(105, 106), r(107, 108)], 104, [r(105, 106), r(107, 108)]],
  ])('settle: %s', (_n, ranges, wm, want) => {
    expect(settleRanges(ranges, wm)).toEqual(want);
  });

  it.each([
    ['into nothing', [], r(71, 100), [r(71, 100)]],
    ['touching ranges stay apart: 107 is where to resume once 105..106 is covered', [r(105, 106)], r(107, 108), [r(105, 106), r(107, 108)]],
    ['a resent part of a range the watermark entered', [r(null, 105)], r(86, 105), [r(86, 105)]],
    ['overlapping ranges merge', [r(71, 100)], r(90, 120), [r(71, 120)]],
    ['separate ranges stay apart', [r(71, 80)], r(90, 95), [r(71, 80), r(90, 95)]],
  ])('add: %s', (_n, ranges, added, want) => {
    expect(addRange(ranges, added)).toEqual(want);
  });

  it('bounds where the next batch may start', () => {
    expect(resumeBound([])).toBe(Number.POSITIVE_INFINITY);
    expect(resumeBound([r(105, 106), r(107, 108)])).toBe(105);
    expect(resumeBound([r(null, 100)])).toBe(100);
  });
});
