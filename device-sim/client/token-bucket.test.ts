import { describe, expect, it } from 'vitest';
import { LocalTokenBucket } from './token-bucket.js';

describe('LocalTokenBucket', () => {
  const cases: { name: string; steps: [at: number, op: 'take' | 'wait' | 'avail', n: number, expect: number | boolean][] }[] = [
    { name: 'starts full and takes up to burst', steps: [[0, 'take', 10, true], [0, 'take', 1, false], [0, 'avail', 0, 0]] },
    { name: 'refills at the rate', steps: [[0, 'take', 10, true], [500, 'avail', 0, 5], [1000, 'take', 10, true]] },
    { name: 'never above burst', steps: [[60_000, 'avail', 0, 10]] },
    { name: 'wait for a take', steps: [[0, 'take', 10, true], [0, 'wait', 4, 400], [400, 'take', 4, true]] },
    { name: 'wait is capped at burst', steps: [[0, 'take', 10, true], [0, 'wait', 50, 1000]] },
    { name: 'no wait when available', steps: [[0, 'wait', 3, 0]] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const b = new LocalTokenBucket(10, 10, 0);
      for (const [at, op, n, want] of c.steps) {
        const got = op === 'take' ? b.tryTake(n, at) : op === 'wait' ? b.waitMs(n, at) : b.available(at);
        expect(got, `${op}(${n}) at ${at}`).toBe(want);
      }
    });
  }
  it('setRate keeps what was earned', () => {
    const b = new LocalTokenBucket(10, 100, 0);
    b.tryTake(100, 0);
    b.setRate(100, 1000); // 10 earned at the old rate
    expect(b.available(1000)).toBe(10);
    expect(b.available(1100)).toBe(20);
  });
  it('refuses nonsense', () => {
    expect(() => new LocalTokenBucket(0, 1, 0)).toThrow(/ratePerSec/);
    expect(() => new LocalTokenBucket(1, 0, 0)).toThrow(/burst/);
  });
});
