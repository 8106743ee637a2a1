// Pure cores of the store stage: error classification, pacing shapes, call chunking, the AIMD rate factor,
// the backlog estimate and hotspot counting.
import { describe, expect, it } from 'vitest';
import { classifyStoreError, type StoreErrorKind } from '../src/store/classify-error.js';
import { HotspotTracker } from '../src/store/metrics.js';
import { pacerLimits } from '../src/store/pacer.js';
import { PartitionLanes, Semaphore } from '../src/store/partition-lanes.js';
import { afterThrottle, DEFAULT_RATE_FACTOR_POLICY, rateFactorAt, type RateFactorState } from '../src/store/rate-factor.js';
import { storageBacklogMs } from '../src/store/store-worker.js';
import { chunkForWrite, type PendingItem } from '../src/store/writer.js';

const named = (name: string, extra: Record<string, unknown> = {}) => Object.assign(new Error('irrelevant text'), { name, ...extra });

describe('classifyStoreError', () => {
  const cases: Array<[string, unknown, StoreErrorKind]> = [
    ['ProvisionedThroughputExceededException', named('ProvisionedThroughputExceededException'), 'throttled'],
    ['ThrottlingException', named('ThrottlingException'), 'throttled'],
    ['RequestLimitExceeded', named('RequestLimitExceeded'), 'throttled'],
    ['ValidationException', named('ValidationException'), 'permanent'],
    ['SerializationException', named('SerializationException'), 'permanent'],
    ['ItemCollectionSizeLimitExceededException', named('ItemCollectionSizeLimitExceededException'), 'permanent'],
    ['UnrecognizedClientException', named('UnrecognizedClientException'), 'permanent'],
    ['ResourceNotFoundException (table being created)', named('ResourceNotFoundException'), 'retryable'],
    ['InternalServerError', named('InternalServerError', { $metadata: { httpStatusCode: 500 } }), 'retryable'],
    ['TimeoutError', named('TimeoutError'), 'retryable'],
    ['connection refused', named('Error', { code: 'ECONNREFUSED' }), 'retryable'],
    ['unknown name', named('SomethingNew'), 'retryable'],
    ['not an error at all', 'boom', 'retryable'],
    ['null', null, 'retryable'],
    // The message never decides: a validation name with a throttling message is still permanent.
    ['message text is ignored', Object.assign(new Error('ProvisionedThroughputExceededException'), { name: 'ValidationException' }), 'permanent'],
  ];
  it.each(cases)('%s', (_name, err, kind) => {
    expect(classifyStoreError(err)).toBe(kind);
  });
});

describe('pacerLimits', () => {
  const cases: Array<[number, number, ReturnType<typeof pacerLimits>]> = [
    [1000, 1000, { envelope: { ratePerSec: 1000, burst: 20 }, partition: { ratePerSec: 950, burst: 50 }, maxCallUnits: 10 }],
    [4000, 1000, { envelope: { ratePerSec: 4000, burst: 80 }, partition: { ratePerSec: 950, burst: 50 }, maxCallUnits: 40 }],
    [1500, 200, { envelope: { ratePerSec: 1500, burst: 30 }, partition: { ratePerSec: 190, burst: 10 }, maxCallUnits: 10 }],
    [50, 1000, { envelope: { ratePerSec: 50, burst: 2 }, partition: { ratePerSec: 950, burst: 50 }, maxCallUnits: 1 }],
    [1, 1, { envelope: { ratePerSec: 1, burst: 2 }, partition: { ratePerSec: 1, burst: 1 }, maxCallUnits: 1 }],
  ];
  it.each(cases)('envelope %d, partition %d', (env, part, want) => {
    expect(pacerLimits(env, part)).toEqual(want);
  });

  it('a bucket never lets a 1-second window exceed rate + burst: within 2 % of the envelope, at most the partition limit', () => {
    for (const env of [100, 1000, 4000, 40_000]) {
      const l = pacerLimits(env, 1000);
      expect(l.envelope.ratePerSec + l.envelope.burst).toBeLessThanOrEqual(Math.ceil(env * 1.02));
      expect(l.partition.ratePerSec + l.partition.burst).toBeLessThanOrEqual(1000);
    }
  });
});

describe('chunkForWrite', () => {
  const items = (...units: number[]): PendingItem[] => units.map((u, i) => ({ seq: i + 1, item: {}, units: u }));
  const shape = (chunks: PendingItem[][]) => chunks.map((c) => c.map((i) => i.seq));
  const cases: Array<[string, PendingItem[], number, number, number[][]]> = [
    ['empty', [], 25, 10, []],
    ['by item count', items(1, 1, 1, 1, 1), 2, 100, [[1, 2], [3, 4], [5]]],
    ['by units', items(3, 3, 3, 1), 25, 6, [[1, 2], [3, 4]]],
    ['an item over the budget travels alone', items(1, 9, 1), 25, 4, [[1], [2], [3]]],
    ['order is kept', items(2, 1, 2, 1), 25, 3, [[1, 2], [3, 4]]],
  ];
  it.each(cases)('%s', (_name, input, maxItems, maxUnits, want) => {
    expect(shape(chunkForWrite(input, maxItems, maxUnits))).toEqual(want);
  });
});

describe('rate factor (AIMD)', () => {
  const p = DEFAULT_RATE_FACTOR_POLICY;
  it('starts at 1 and recovers 10 % per second up to 1', () => {
    expect(rateFactorAt(null, 0)).toBe(1);
    const s: RateFactorState = { factor: 0.5, ts: 10_000 };
    expect(rateFactorAt(s, 10_000)).toBe(0.5);
    expect(rateFactorAt(s, 12_000)).toBeCloseTo(0.7);
    expect(rateFactorAt(s, 30_000)).toBe(1);
    expect(rateFactorAt(s, 9_000)).toBe(0.5);
  });

  const steps: Array<[string, RateFactorState | null, number, RateFactorState]> = [
    ['first throttle halves', null, 5_000, { factor: 0.5, ts: 5_000 }],
    ['a throttle inside the hold time is the same episode', { factor: 0.5, ts: 5_000 }, 5_900, { factor: 0.5, ts: 5_000 }],
    ['after the hold time, halves the recovered value', { factor: 0.5, ts: 5_000 }, 6_000, { factor: 0.3, ts: 6_000 }],
    ['repeated episodes converge toward the floor', { factor: 0.06, ts: 0 }, 1_000, { factor: 0.08, ts: 1_000 }],
  ];
  it.each(steps)('%s', (_name, state, now, want) => {
    const got = afterThrottle(state, now);
    expect(got.ts).toBe(want.ts);
    expect(got.factor).toBeCloseTo(want.factor);
  });

  it('never goes below the floor', () => {
    const slow = { ...p, recoveryPerSec: 0.001 };
    expect(afterThrottle({ factor: 0.06, ts: 0 }, 1_000, slow).factor).toBe(p.min);
  });
});

describe('storageBacklogMs', () => {
  it.each([
    [0, 1, 1000, 0],
    [-5, 1, 1000, 0],
    [1000, 1, 1000, 1000],
    [1000, 2.5, 1000, 2500],
    [1000, 1, 500, 2000],
  ])('depth %d × %d units at %d/s → %d ms', (depth, upe, rate, want) => {
    expect(storageBacklogMs(depth, upe, rate)).toBe(want);
  });
});

describe('HotspotTracker', () => {
  it('counts distinct (partition, second) pairs', () => {
    const h = new HotspotTracker();
    const seen = [
      h.note('a', 1_000),
      h.note('a', 1_500),
      h.note('b', 1_600),
      h.note('a', 2_000),
      h.note('a', 1_999), // late report of the previous second: already counted
      h.note('a', 5_000),
    ];
    expect(seen).toEqual([true, false, true, true, false, true]);
  });
});

describe('Semaphore / PartitionLanes', () => {
  it('grants up to its width, then FIFO', async () => {
    const s = new Semaphore(2);
    const order: number[] = [];
    await s.acquire();
    await s.acquire();
    const third = s.acquire().then(() => order.push(3));
    const fourth = s.acquire().then(() => order.push(4));
    expect([s.inUse, s.waiting]).toEqual([2, 2]);
    s.release();
    await third;
    s.release();
    await fourth;
    expect(order).toEqual([3, 4]);
    s.release();
    s.release();
    expect([s.inUse, s.waiting]).toEqual([0, 0]);
  });

  it('an aborted waiter leaves the queue and rejects with the reason', async () => {
    const s = new Semaphore(1);
    await s.acquire();
    const ctl = new AbortController();
    const waiting = s.acquire(ctl.signal);
    ctl.abort(new Error('closing'));
    await expect(waiting).rejects.toThrow('closing');
    expect(s.waiting).toBe(0);
    s.release();
    expect(s.inUse).toBe(0);
  });

  it('resize: wider serves waiters at once (FIFO); narrower lets holders finish and serves none until below the width', async () => {
    const s = new Semaphore(1);
    await s.acquire();
    const order: number[] = [];
    const waiters = [2, 3, 4].map((n) => s.acquire().then(() => order.push(n)));
    s.resize(3);
    expect(s.width).toBe(3);
    await Promise.all(waiters.slice(0, 2));
    expect(order).toEqual([2, 3]);
    expect([s.inUse, s.waiting]).toEqual([3, 1]);

    s.resize(1);
    s.release(); // 2 held, width 1: the waiter keeps waiting
    await Promise.resolve();
    expect([s.inUse, s.waiting]).toEqual([2, 1]);
    s.release(); // 1 held: still not below the width
    expect([s.inUse, s.waiting]).toEqual([1, 1]);
    s.release();
    await waiters[2];
    expect(order).toEqual([2, 3, 4]);
    expect([s.inUse, s.waiting]).toEqual([1, 0]);
    // A new acquire while the queue is empty and the width is used waits, as before.
    let got = false;
    const late = s.acquire().then(() => (got = true));
    await Promise.resolve();
    expect(got).toBe(false);
    s.release();
    await late;
  });

  it.each([0, -1, 1.5])('resize refuses width %d and keeps the old one', (w) => {
    const s = new Semaphore(2);
    expect(() => s.resize(w)).toThrow(RangeError);
    expect(s.width).toBe(2);
  });

  it('one lane per partition: another partition is not held up', async () => {
    const lanes = new PartitionLanes(1);
    await lanes.acquire('a');
    let second = false;
    const a2 = lanes.acquire('a').then(() => (second = true));
    await lanes.acquire('b'); // resolves at once
    expect(second).toBe(false);
    lanes.release('a');
    await a2;
    expect(second).toBe(true);
    lanes.release('a');
    lanes.release('b');
    expect(lanes.size).toBe(0);
  });
});
