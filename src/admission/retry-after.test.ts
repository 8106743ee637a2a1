import { describe, expect, it } from 'vitest';
import { spreadRetryAfter } from './retry-after.js';

const policy = { minMs: 200, maxMs: 60_000, spread: 0.5 };

describe('spreadRetryAfter', () => {
  it.each([
    ['never shorter than the capacity estimate', 3000, 0, 3000],
    ['lengthened by at most spread × base', 3000, 0.999, 4499],
    ['raised to minMs', 10, 0, 200],
    ['capped at maxMs before spreading', 90_000, 0.5, 75_000],
  ])('%s', (_n, base, u, want) => {
    expect(spreadRetryAfter(base, policy, () => u)).toBe(want);
  });

  it('spreads devices deferred in the same instant over a window', () => {
    let i = 0;
    const values = Array.from({ length: 100 }, () => spreadRetryAfter(2000, policy, () => (i++ % 100) / 100));
    const distinct = new Set(values);
    expect(distinct.size).toBe(100);
    expect(Math.min(...values)).toBe(2000);
    expect(Math.max(...values)).toBeLessThan(3000);
  });
});
