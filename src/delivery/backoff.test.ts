import { describe, expect, it } from 'vitest';
import { fullJitterBackoff } from './backoff.js';

describe('fullJitterBackoff', () => {
  const cases: Array<{ name: string; attempt: number; base: number; max: number; r: number; want: number }> = [
    { name: 'first retry, top of range', attempt: 0, base: 100, max: 10_000, r: 0.999999, want: 99 },
    { name: 'first retry, bottom of range', attempt: 0, base: 100, max: 10_000, r: 0, want: 0 },
    { name: 'doubles per attempt', attempt: 3, base: 100, max: 10_000, r: 0.5, want: 400 },
    { name: 'capped by maxMs', attempt: 10, base: 100, max: 2_000, r: 0.5, want: 1_000 },
    { name: 'huge attempt does not overflow', attempt: 5_000, base: 100, max: 2_000, r: 0.5, want: 1_000 },
    { name: 'fractional attempt floors', attempt: 1.9, base: 100, max: 10_000, r: 0.5, want: 100 },
    { name: 'zero base gives zero', attempt: 4, base: 0, max: 0, r: 0.7, want: 0 },
    { name: 'random ≥ 1 is clamped below the ceiling', attempt: 0, base: 100, max: 100, r: 1, want: 99 },
    { name: 'negative random is clamped to 0', attempt: 0, base: 100, max: 100, r: -0.2, want: 0 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(fullJitterBackoff(c.attempt, c.base, c.max, () => c.r)).toBe(c.want);
    });
  }

  it('stays within [0, min(max, base·2^attempt)) with Math.random', () => {
    for (let attempt = 0; attempt < 20; attempt++) {
      for (let i = 0; i < 50; i++) {
        const d = fullJitterBackoff(attempt, 50, 5_000);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(Math.min(5_000, 50 * 2 ** attempt));
      }
    }
  });

  it.each([
    [-1, 100, 1000],
    [Number.NaN, 100, 1000],
    [0, -5, 1000],
    [0, 100, 50],
  ])('rejects invalid arguments (attempt=%s base=%s max=%s)', (attempt, base, max) => {
    expect(() => fullJitterBackoff(attempt, base, max)).toThrow(RangeError);
  });
});
