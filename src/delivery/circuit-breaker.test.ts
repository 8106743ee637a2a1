import { describe, expect, it } from 'vitest';
import { CircuitBreaker, type BreakerState } from './circuit-breaker.js';

type Step =
  | { do: 'fail' | 'succeed' }
  | { do: 'acquire'; want: boolean }
  | { do: 'advance'; ms: number }
  | { do: 'expect'; state: BreakerState; retryInMs?: number };

function run(steps: Step[], threshold = 3, openMs = 1000) {
  let t = 0;
  const changes: string[] = [];
  const b = new CircuitBreaker({ failureThreshold: threshold, openMs, now: () => t, onStateChange: (to, from) => changes.push(`${from}>${to}`) });
  for (const [i, s] of steps.entries()) {
    const where = `step ${i} (${JSON.stringify(s)})`;
    if (s.do === 'fail') b.recordFailure();
    else if (s.do === 'succeed') b.recordSuccess();
    else if (s.do === 'advance') t += s.ms;
    else if (s.do === 'acquire') expect(b.tryAcquire(), where).toBe(s.want);
    else if (s.do === 'expect') {
      expect(b.state, where).toBe(s.state);
      if (s.retryInMs !== undefined) expect(b.msUntilRetry(), where).toBe(s.retryInMs);
    }
  }
  return changes;
}

describe('CircuitBreaker', () => {
  const cases: Array<{ name: string; steps: Step[]; changes: string[] }> = [
    {
      name: 'stays closed below the threshold',
      steps: [{ do: 'fail' }, { do: 'fail' }, { do: 'expect', state: 'closed', retryInMs: 0 }, { do: 'acquire', want: true }],
      changes: [],
    },
    {
      name: 'a success resets the consecutive count',
      steps: [{ do: 'fail' }, { do: 'fail' }, { do: 'succeed' }, { do: 'fail' }, { do: 'fail' }, { do: 'expect', state: 'closed' }],
      changes: [],
    },
    {
      name: 'opens at the threshold and refuses requests',
      steps: [{ do: 'fail' }, { do: 'fail' }, { do: 'fail' }, { do: 'expect', state: 'open', retryInMs: 1000 }, { do: 'acquire', want: false }],
      changes: ['closed>open'],
    },
    {
      name: 'half-open after openMs lets exactly one probe through',
      steps: [
        { do: 'fail' }, { do: 'fail' }, { do: 'fail' },
        { do: 'advance', ms: 999 }, { do: 'expect', state: 'open', retryInMs: 1 }, { do: 'acquire', want: false },
        { do: 'advance', ms: 1 }, { do: 'expect', state: 'half_open', retryInMs: 0 },
        { do: 'acquire', want: true }, { do: 'acquire', want: false },
      ],
      changes: ['closed>open', 'open>half_open'],
    },
    {
      name: 'a successful probe closes the circuit',
      steps: [
        { do: 'fail' }, { do: 'fail' }, { do: 'fail' }, { do: 'advance', ms: 1000 },
        { do: 'acquire', want: true }, { do: 'succeed' }, { do: 'expect', state: 'closed' }, { do: 'acquire', want: true },
      ],
      changes: ['closed>open', 'open>half_open', 'half_open>closed'],
    },
    {
      name: 'a failed probe opens it again for another openMs',
      steps: [
        { do: 'fail' }, { do: 'fail' }, { do: 'fail' }, { do: 'advance', ms: 1500 },
        { do: 'acquire', want: true }, { do: 'fail' }, { do: 'expect', state: 'open', retryInMs: 1000 },
        { do: 'advance', ms: 1000 }, { do: 'acquire', want: true },
      ],
      changes: ['closed>open', 'open>half_open', 'half_open>open', 'open>half_open'],
    },
    {
      name: 'stragglers failing while open do not extend the open time',
      steps: [
        { do: 'fail' }, { do: 'fail' }, { do: 'fail' }, { do: 'advance', ms: 600 }, { do: 'fail' }, { do: 'fail' },
        { do: 'expect', state: 'open', retryInMs: 400 },
      ],
      changes: ['closed>open'],
    },
    {
      name: 'after closing, the count starts from zero',
      steps: [
        { do: 'fail' }, { do: 'fail' }, { do: 'fail' }, { do: 'advance', ms: 1000 }, { do: 'acquire', want: true }, { do: 'succeed' },
        { do: 'fail' }, { do: 'fail' }, { do: 'expect', state: 'closed' }, { do: 'fail' }, { do: 'expect', state: 'open' },
      ],
      changes: ['closed>open', 'open>half_open', 'half_open>closed', 'closed>open'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(run(c.steps)).toEqual(c.changes);
    });
  }

  it('threshold 1 opens on the first failure', () => {
    expect(run([{ do: 'fail' }, { do: 'expect', state: 'open' }], 1)).toEqual(['closed>open']);
  });

  describe('setSettings (a config reload)', () => {
    function breaker() {
      let t = 0;
      const b = new CircuitBreaker({ failureThreshold: 5, openMs: 1000, now: () => t });
      return { b, advance: (ms: number) => (t += ms) };
    }

    it('a lower threshold opens at the next failure when the failures counted already reach it', () => {
      const { b } = breaker();
      b.recordFailure();
      b.recordFailure();
      b.setSettings({ failureThreshold: 2, openMs: 1000 });
      expect(b.state).toBe('closed');
      b.recordFailure();
      expect(b.state).toBe('open');
    });

    it('a shorter openMs lets the probe through sooner, counted from when the circuit opened', () => {
      const { b, advance } = breaker();
      for (let i = 0; i < 5; i++) b.recordFailure();
      advance(200);
      expect(b.msUntilRetry()).toBe(800);
      b.setSettings({ failureThreshold: 5, openMs: 300 });
      expect(b.msUntilRetry()).toBe(100);
      advance(100);
      expect(b.state).toBe('half_open');
      expect(b.settings).toEqual({ failureThreshold: 5, openMs: 300 });
    });

    it('refuses invalid settings and keeps the old ones', () => {
      const { b } = breaker();
      expect(() => b.setSettings({ failureThreshold: 0, openMs: 10 })).toThrow(RangeError);
      expect(() => b.setSettings({ failureThreshold: 2, openMs: 0 })).toThrow(RangeError);
      expect(b.settings).toEqual({ failureThreshold: 5, openMs: 1000 });
    });
  });

  it.each([
    [{ failureThreshold: 0, openMs: 10 }],
    [{ failureThreshold: 1.5, openMs: 10 }],
    [{ failureThreshold: 3, openMs: 0 }],
  ])('rejects invalid options %j', (o) => {
    expect(() => new CircuitBreaker(o)).toThrow(RangeError);
  });
});
