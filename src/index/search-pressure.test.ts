import { describe, expect, it } from 'vitest';
import { EventsPerJob, lagMsOf } from './search-pressure.js';
import { sumWritePools } from './shard-pressure.js';

describe('lagMsOf', () => {
  it.each([
    ['nothing pending', [], 0],
    ['only nulls', [null, null], 0],
    ['the oldest wins', [9_000, null, 4_000], 6_000],
    ['a clock ahead of ours is no lag', [10_500], 0],
  ] as Array<[string, Array<number | null>, number]>)('%s', (_n, acceptedAt, want) => {
    expect(lagMsOf(10_000, ...acceptedAt)).toBe(want);
  });
});

describe('EventsPerJob', () => {
  it('is 1 before any sample, then a smoothed mean that ignores empty samples', () => {
    const e = new EventsPerJob(0.5);
    expect(e.value).toBe(1);
    e.observe(100);
    expect(e.value).toBe(100);
    e.observe(0);
    expect(e.value).toBe(100);
    e.observe(50);
    expect(e.value).toBe(75);
  });
});

describe('sumWritePools', () => {
  it('sums the write pool over nodes and tolerates missing parts', () => {
    const body = {
      nodes: {
        a: { thread_pool: { write: { queue: 3, rejected: 10, active: 1 }, search: { queue: 99 } } },
        b: { thread_pool: { write: { queue: 1, rejected: 2 } } },
        c: {},
      },
    };
    expect(sumWritePools(body)).toEqual({ queue: 4, rejected: 12, active: 1 });
    expect(sumWritePools(null)).toEqual({ queue: 0, rejected: 0, active: 0 });
  });
});
