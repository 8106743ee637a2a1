import { describe, expect, it } from 'vitest';
import { nextOutstanding, type Outstanding } from './watermarks.js';

const out = (from: number | null, to: number): Outstanding => ({ from, to, reason: 'batch_cap' });

describe('nextOutstanding', () => {
  it.each([
    ['nothing before, nothing deferred: unchanged', null, null, null, 70, undefined],
    ['a new deferred tail', null, 71, 100, 70, out(71, 100)],
    ['part of the range resent and accepted, the rest deferred', out(71, 100), 76, 80, 75, out(76, 100)],
    ['part resent and wholly accepted: start unknown, end kept', out(71, 100), null, null, 80, out(null, 100)],
    ['the watermark covers the range: cleared', out(71, 100), null, null, 100, null],
    ['the watermark passes the range: cleared', out(71, 100), null, null, 120, null],
    ['a later deferral extends the end', out(71, 100), 71, 130, 70, out(71, 130)],
  ])('%s', (_n, before, dFrom, dTo, wm, want) => {
    expect(nextOutstanding(before, dFrom, dTo, wm, 'batch_cap')).toEqual(want);
  });
});
