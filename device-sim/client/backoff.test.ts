import { describe, expect, it } from 'vitest';
import { backoffCeiling, retryDelay } from './backoff.js';
import { seededRandom } from './clock.js';

describe('retryDelay (full jitter, floored by retryAfterMs)', () => {
  const policy = { baseMs: 100, maxMs: 2000 };
  it.each([
    [0, 100],
    [1, 200],
    [4, 1600],
    [5, 2000],
    [1000, 2000],
  ])('attempt %i has ceiling %i', (attempt, ceiling) => {
    expect(backoffCeiling(attempt, policy)).toBe(ceiling);
  });
  it('stays within [0, ceiling) whatever the draw', () => {
    for (const r of [0, 0.5, 0.999999, 1, -1]) {
      const d = retryDelay(3, policy, () => r);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(800);
    }
  });
  it('never waits less than retryAfterMs, even above maxMs', () => {
    const random = seededRandom(7);
    for (let attempt = 0; attempt < 20; attempt++) {
      expect(retryDelay(attempt, policy, random, 1500)).toBeGreaterThanOrEqual(1500);
      expect(retryDelay(attempt, policy, random, 9000)).toBe(9000);
    }
  });
  it('is jittered: a fleet deferred together spreads over the window', () => {
    const random = seededRandom(42);
    const delays = Array.from({ length: 1000 }, () => retryDelay(4, policy, random, 200));
    const distinct = new Set(delays).size;
    expect(distinct).toBeGreaterThan(500);
    expect(Math.min(...delays)).toBe(200);
    expect(Math.max(...delays)).toBeGreaterThan(1400);
    expect(Math.max(...delays)).toBeLessThan(1600);
  });
});
