import { describe, expect, it } from 'vitest';
import { AimdLimiter, type LimiterOutcome, type Permit } from './adaptive-concurrency.js';

type Step =
  | { do: 'acquire'; n: number; want?: number }
  | { do: 'release'; n: number; outcome: LimiterOutcome; latencyMs?: number; oldest?: boolean }
  | { do: 'expect'; limit: number; inFlight?: number };

interface Case {
  name: string;
  opts?: Partial<{ min: number; max: number; initial: number; increaseAfter: number; decreaseFactor: number }>;
  steps: Step[];
}

function run(c: Case) {
  const lim = new AimdLimiter({ min: 1, max: 8, initial: 4, latencyTargetMs: 100, ...c.opts, now: () => 0 });
  const held: Permit[] = [];
  for (const [i, s] of c.steps.entries()) {
    const where = `step ${i} ${JSON.stringify(s)}`;
    if (s.do === 'acquire') {
      let got = 0;
      for (let k = 0; k < s.n; k++) {
        const p = lim.tryAcquire();
        if (p) {
          held.push(p);
          got++;
        }
      }
      expect(got, where).toBe(s.want ?? s.n);
    } else if (s.do === 'release') {
      for (let k = 0; k < s.n; k++) {
        const p = s.oldest === false ? held.pop()! : held.shift()!;
        lim.release(p, s.outcome, s.latencyMs ?? 10);
      }
    } else {
      expect(lim.limit, where).toBe(s.limit);
      if (s.inFlight !== undefined) expect(lim.inFlight, where).toBe(s.inFlight);
    }
  }
}

describe('AimdLimiter', () => {
  const cases: Case[] = [
    { name: 'starts at initial, grants up to the limit', steps: [{ do: 'acquire', n: 6, want: 4 }, { do: 'expect', limit: 4, inFlight: 4 }] },
    { name: 'initial is clamped into [min, max]', opts: { initial: 50 }, steps: [{ do: 'expect', limit: 8 }] },
    {
      name: 'additive increase after a window of healthy completions at the limit',
      steps: [
        // a backlog: each completion is followed by a new request, so every new permit fills the limit
        { do: 'acquire', n: 4 },
        { do: 'release', n: 1, outcome: 'ok' }, { do: 'acquire', n: 1 }, { do: 'release', n: 1, outcome: 'ok' }, { do: 'acquire', n: 1 },
        { do: 'release', n: 1, outcome: 'ok' }, { do: 'acquire', n: 1 }, { do: 'release', n: 1, outcome: 'ok' }, { do: 'acquire', n: 1 },
        { do: 'release', n: 2, outcome: 'ok' }, { do: 'expect', limit: 4 }, // 3 saturated completions so far
        { do: 'release', n: 1, outcome: 'ok' }, { do: 'expect', limit: 5 }, // the 4th: one window at limit 4
        { do: 'release', n: 1, outcome: 'ok' }, { do: 'expect', limit: 5, inFlight: 0 },
      ],
    },
    {
      name: 'no growth while the limit is not binding (light load)',
      steps: [
        { do: 'acquire', n: 1 }, { do: 'release', n: 1, outcome: 'ok' }, { do: 'acquire', n: 1 }, { do: 'release', n: 1, outcome: 'ok' },
        { do: 'acquire', n: 1 }, { do: 'release', n: 1, outcome: 'ok' }, { do: 'acquire', n: 1 }, { do: 'release', n: 1, outcome: 'ok' },
        { do: 'acquire', n: 1 }, { do: 'release', n: 1, outcome: 'ok' }, { do: 'expect', limit: 4 },
      ],
    },
    {
      name: 'increaseAfter overrides the window',
      opts: { initial: 2, increaseAfter: 1 },
      steps: [{ do: 'acquire', n: 2 }, { do: 'release', n: 1, outcome: 'ok', oldest: false }, { do: 'expect', limit: 3 }],
    },
    { name: 'never above max', opts: { initial: 8, increaseAfter: 1 }, steps: [{ do: 'acquire', n: 8 }, { do: 'release', n: 8, outcome: 'ok' }, { do: 'expect', limit: 8 }] },
    { name: 'multiplicative decrease on overload', steps: [{ do: 'acquire', n: 1 }, { do: 'release', n: 1, outcome: 'overload' }, { do: 'expect', limit: 2 }] },
    { name: 'a slow success counts as overload', steps: [{ do: 'acquire', n: 1 }, { do: 'release', n: 1, outcome: 'ok', latencyMs: 101 }, { do: 'expect', limit: 2 }] },
    { name: 'latency exactly at target is healthy', opts: { initial: 1, max: 2 }, steps: [{ do: 'acquire', n: 1 }, { do: 'release', n: 1, outcome: 'ok', latencyMs: 100 }, { do: 'expect', limit: 2 }] },
    {
      name: 'one decrease per episode: overloads of permits granted before the cut are ignored',
      steps: [{ do: 'acquire', n: 4 }, { do: 'release', n: 4, outcome: 'overload' }, { do: 'expect', limit: 2, inFlight: 0 }],
    },
    {
      name: 'a permit granted after the cut can cut again',
      steps: [
        { do: 'acquire', n: 4 }, { do: 'release', n: 1, outcome: 'overload' }, { do: 'expect', limit: 2, inFlight: 3 },
        { do: 'acquire', n: 1, want: 0 }, { do: 'release', n: 2, outcome: 'ok' }, { do: 'acquire', n: 1 },
        { do: 'release', n: 1, outcome: 'overload' }, { do: 'expect', limit: 2, inFlight: 1 },
        { do: 'release', n: 1, outcome: 'overload' }, { do: 'expect', limit: 1, inFlight: 0 },
      ],
    },
    { name: 'never below min', opts: { min: 2, initial: 2 }, steps: [{ do: 'acquire', n: 1 }, { do: 'release', n: 1, outcome: 'overload' }, { do: 'expect', limit: 2 }] },
    { name: 'ignore changes nothing', steps: [{ do: 'acquire', n: 4 }, { do: 'release', n: 4, outcome: 'ignore' }, { do: 'expect', limit: 4, inFlight: 0 }] },
    { name: 'custom decrease factor', opts: { max: 10, initial: 10, decreaseFactor: 0.7 }, steps: [{ do: 'acquire', n: 1 }, { do: 'release', n: 1, outcome: 'overload' }, { do: 'expect', limit: 7 }] },
  ];
  for (const c of cases) it(c.name, () => run(c));

  it('no permit while in flight ≥ limit after a cut; waiters are served FIFO as slots free', async () => {
    const lim = new AimdLimiter({ min: 1, max: 4, initial: 2, latencyTargetMs: 1000 });
    const a = lim.tryAcquire()!;
    const b = lim.tryAcquire()!;
    const order: string[] = [];
    const w1 = lim.acquire().then((p) => (order.push('w1'), p));
    const w2 = lim.acquire().then((p) => (order.push('w2'), p));
    lim.release(a, 'overload'); // limit 2 → 1, one still in flight: nobody may start
    await Promise.resolve();
    expect(order).toEqual([]);
    lim.release(b, 'ignore');
    const p1 = await w1;
    expect(order).toEqual(['w1']);
    expect(lim.inFlight).toBe(1);
    lim.release(p1, 'ignore');
    await w2;
    expect(order).toEqual(['w1', 'w2']);
  });

  it('keeps inFlight ≤ limit ≤ max under a random workload', () => {
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const lim = new AimdLimiter({ min: 1, max: 6, initial: 3, latencyTargetMs: 50, now: () => 0 });
    const held: Permit[] = [];
    for (let i = 0; i < 10_000; i++) {
      if (rnd() < 0.55) {
        const p = lim.tryAcquire();
        if (p) held.push(p);
      } else if (held.length > 0) {
        const p = held.splice(Math.floor(rnd() * held.length), 1)[0]!;
        const r = rnd();
        lim.release(p, r < 0.05 ? 'overload' : r < 0.1 ? 'ignore' : 'ok', rnd() * 60);
      }
      expect(lim.inFlight).toBe(held.length);
      expect(lim.limit).toBeLessThanOrEqual(6);
      expect(lim.limit).toBeGreaterThanOrEqual(1);
    }
  });

  describe('setBounds (a config reload)', () => {
    const cases: Array<{ name: string; from: number; to: [number, number]; limit: number }> = [
      { name: 'a lower ceiling clamps the limit down', from: 6, to: [1, 3], limit: 3 },
      { name: 'a higher floor clamps the limit up', from: 2, to: [4, 8], limit: 4 },
      { name: 'a limit inside the new bounds is kept', from: 3, to: [2, 16], limit: 3 },
      { name: 'min = max pins the limit', from: 8, to: [5, 5], limit: 5 },
    ];
    it.each(cases)('$name', ({ from, to, limit }) => {
      const seen: number[] = [];
      const lim = new AimdLimiter({ min: 1, max: 8, initial: from, latencyTargetMs: 100, onChange: (l) => seen.push(l) });
      lim.setBounds(...to);
      expect(lim.limit).toBe(limit);
      expect(lim.bounds).toEqual({ min: to[0], max: to[1] });
      expect(seen.at(-1)).toBe(limit); // the gauge follows
    });

    it('growth stops at the new ceiling and decreases stop at the new floor', () => {
      const lim = new AimdLimiter({ min: 1, max: 8, initial: 3, latencyTargetMs: 100, increaseAfter: 1, now: () => 0 });
      lim.setBounds(1, 3);
      const held = [lim.tryAcquire()!, lim.tryAcquire()!, lim.tryAcquire()!]; // the third fills the limit
      for (const p of held) lim.release(p, 'ok', 1);
      expect(lim.limit).toBe(3);
      lim.setBounds(3, 6);
      lim.release(lim.tryAcquire()!, 'overload', 1);
      expect(lim.limit).toBe(3);
    });

    it('below the requests in flight: they finish, none starts until inFlight < limit, and their overloads do not cut again', () => {
      const lim = new AimdLimiter({ min: 1, max: 8, initial: 6, latencyTargetMs: 100, now: () => 0 });
      const held = Array.from({ length: 6 }, () => lim.tryAcquire()!);
      lim.setBounds(1, 2);
      expect(lim.tryAcquire()).toBeNull();
      for (const p of held.slice(0, 4)) lim.release(p, 'overload', 1);
      expect(lim.limit).toBe(2); // permits of the old limit say nothing about the new one
      expect(lim.inFlight).toBe(2);
      expect(lim.tryAcquire()).toBeNull();
      lim.release(held[4]!, 'ok', 1);
      expect(lim.tryAcquire()).not.toBeNull();
    });

    it('a raised floor wakes waiters at once', async () => {
      const lim = new AimdLimiter({ min: 1, max: 4, initial: 1, latencyTargetMs: 100 });
      lim.tryAcquire();
      let woke = false;
      const w = lim.acquire().then(() => (woke = true));
      lim.setBounds(2, 4);
      await w;
      expect(woke).toBe(true);
      expect(lim.inFlight).toBe(2);
    });

    it.each([
      [0, 4],
      [3, 2],
      [1.5, 4],
    ])('rejects min %d, max %d and changes nothing', (min, max) => {
      const lim = new AimdLimiter({ min: 1, max: 4, initial: 3, latencyTargetMs: 100 });
      expect(() => lim.setBounds(min, max)).toThrow(RangeError);
      expect(lim.bounds).toEqual({ min: 1, max: 4 });
      expect(lim.limit).toBe(3);
    });

    it('does not change the options object it was given', () => {
      const opts = { min: 1, max: 4, initial: 3, latencyTargetMs: 100 };
      new AimdLimiter(opts).setBounds(2, 2);
      expect(opts).toEqual({ min: 1, max: 4, initial: 3, latencyTargetMs: 100 });
    });
  });

  it('setLatencyTarget: completions after the change are judged by the new target', () => {
    const lim = new AimdLimiter({ min: 1, max: 8, initial: 4, latencyTargetMs: 100, now: () => 0 });
    lim.setLatencyTarget(1000);
    expect(lim.latencyTargetMs).toBe(1000);
    lim.release(lim.tryAcquire()!, 'ok', 500);
    expect(lim.limit).toBe(4);
    lim.setLatencyTarget(50);
    lim.release(lim.tryAcquire()!, 'ok', 60);
    expect(lim.limit).toBe(2);
    expect(() => lim.setLatencyTarget(0)).toThrow(RangeError);
  });

  it('a double release is ignored', () => {
    const lim = new AimdLimiter({ min: 1, max: 4, initial: 2, latencyTargetMs: 100 });
    const p = lim.tryAcquire()!;
    lim.release(p, 'overload');
    lim.release(p, 'overload');
    expect(lim.inFlight).toBe(0);
    expect(lim.limit).toBe(1);
  });
});
