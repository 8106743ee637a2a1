import { describe, expect, it } from 'vitest';
import { RetryBudget } from './retry-budget.js';

describe('RetryBudget', () => {
  it('earns ratio × fresh, spends it, then the reserve', () => {
    const b = new RetryBudget({ ratio: 0.1, minPerSec: 1, minBurst: 5 }, 0);
    expect(b.available(0)).toBe(5);
    b.recordFresh(100);
    expect(b.available(0)).toBe(15);
    expect(b.tryWithdraw(12, 0)).toBe(true);
    expect(b.available(0)).toBeCloseTo(3);
    expect(b.tryWithdraw(4, 0)).toBe(false);
    expect(b.retriedEvents).toBe(12);
  });
  it('over budget: waits for the reserve to refill', () => {
    const b = new RetryBudget({ ratio: 0, minPerSec: 2, minBurst: 10 }, 0);
    expect(b.tryWithdraw(10, 0)).toBe(true);
    expect(b.waitMs(4, 0)).toBe(2000);
    expect(b.tryWithdraw(4, 1999)).toBe(false);
    expect(b.tryWithdraw(4, 2000)).toBe(true);
  });
  it('refund gives back what the bridge accepted', () => {
    const b = new RetryBudget({ ratio: 0, minPerSec: 0, minBurst: 10 }, 0);
    expect(b.tryWithdraw(10, 0)).toBe(true);
    expect(b.tryWithdraw(1, 0)).toBe(false);
    b.refund(6);
    expect(b.available(0)).toBe(6);
    expect(b.retriedEvents).toBe(4);
  });
  it('a retry larger than the reserve and the earned part can never be covered', () => {
    const b = new RetryBudget({ ratio: 0.1, minPerSec: 1, minBurst: 5 }, 0);
    expect(b.waitMs(50, 0)).toBe(Infinity);
  });
  it('keeps retries at ratio × fresh plus the reserve over a long run', () => {
    const b = new RetryBudget({ ratio: 0.1, minPerSec: 0, minBurst: 20 }, 0);
    let retried = 0;
    for (let i = 0; i < 1000; i++) {
      b.recordFresh(10);
      if (b.tryWithdraw(5, i)) retried += 5;
    }
    expect(retried).toBeLessThanOrEqual(0.1 * 10_000 + 20);
    expect(retried).toBeGreaterThan(0.1 * 10_000 - 5);
  });
});
