// The pacer and the shared rate factor against real Redis: the envelope and the partition bound what is granted,
// a throttle lowers the rate for every process sharing the prefix, and waits are slept, never polled.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RedisTokenBuckets } from '../src/admission/token-bucket.js';
import { sharedKeys } from '../src/queue/keys.js';
import { startRedis, type RedisHandle } from '../src/stack/redis-server.js';
import { pacerLimits, WritePacer } from '../src/store/pacer.js';
import { DEFAULT_RATE_FACTOR_POLICY, SharedRateFactor } from '../src/store/rate-factor.js';

let redis: RedisHandle;
let a: Redis;
let b: Redis;
let prefix = 0;
beforeAll(async () => {
  redis = await startRedis({ appendonly: false });
  a = new Redis(redis.url);
  b = new Redis(redis.url);
});
beforeEach(() => {
  prefix++;
});
afterAll(async () => {
  a?.disconnect();
  b?.disconnect();
  await redis?.stop();
});

describe('SharedRateFactor', () => {
  it('is shared by every process of a prefix: one throttle episode halves it once, then it recovers', async () => {
    const key = `p${prefix}:wcu:factor`;
    const fa = new SharedRateFactor(a, key);
    const fb = new SharedRateFactor(b, key);
    expect(await fa.refresh()).toBe(1);
    expect(await fa.throttled()).toBeCloseTo(0.5, 2);
    // Another process reporting the same episode (inside the hold time) does not halve again.
    expect(await fb.throttled()).toBeCloseTo(0.5, 2);
    expect(await fb.refresh()).toBeCloseTo(0.5, 2);
    await new Promise((r) => setTimeout(r, 500));
    const recovered = await fa.refresh();
    expect(recovered).toBeGreaterThan(0.5 + 0.4 * DEFAULT_RATE_FACTOR_POLICY.recoveryPerSec);
    expect(recovered).toBeLessThan(0.5 + 0.7 * DEFAULT_RATE_FACTOR_POLICY.recoveryPerSec);
    expect(fa.current).toBe(recovered);
  });
});

describe('WritePacer', () => {
  const pacer = (r: Redis, factor = () => 1, rate = 500, partition = 1000, sleeps: number[] = []) =>
    new WritePacer({
      buckets: new RedisTokenBuckets(r),
      keys: sharedKeys(`p${prefix}`),
      writeUnitsPerSec: rate,
      partitionWriteUnitsPerSec: partition,
      rateFactor: factor,
      sleep: (ms, signal) => {
        sleeps.push(ms);
        return new Promise((res, rej) => {
          const t = setTimeout(res, ms);
          signal?.addEventListener('abort', () => {
            clearTimeout(t);
            rej(signal.reason);
          });
        });
      },
    });

  /** Units two "processes" get through in `ms`, acquiring calls of `call` units on `pks` in a loop. */
  async function drive(pacers: WritePacer[], pks: string[], call: number, ms: number): Promise<number> {
    const stop = Date.now() + ms;
    let units = 0;
    await Promise.all(
      pacers.flatMap((p) =>
        pks.map(async (pk) => {
          while (Date.now() < stop) {
            await p.acquire(pk, call);
            if (Date.now() <= stop) units += call;
          }
        }),
      ),
    );
    return units;
  }

  it('two processes together stay within the envelope (rate + burst per second)', async () => {
    const sleeps: number[] = [];
    const pa = pacer(a, () => 1, 500, 1000, sleeps);
    const pb = pacer(b, () => 1, 500, 1000, sleeps);
    const units = await drive([pa, pb], ['x', 'y', 'z'], pa.limits.maxCallUnits, 1000);
    expect(units).toBeLessThanOrEqual(500 + pa.limits.envelope.burst);
    expect(units).toBeGreaterThan(350);
    // It slept the waits the buckets asked for (no busy loop): every sleep is at least 1 ms.
    expect(sleeps.length).toBeGreaterThan(0);
    expect(Math.min(...sleeps)).toBeGreaterThanOrEqual(1);
  });

  it('holds one partition to its limit while the envelope has room', async () => {
    const p = pacer(a, () => 1, 2000, 100);
    const units = await drive([p], ['hot'], p.limits.maxCallUnits, 1000);
    expect(units).toBeLessThanOrEqual(100);
    expect(units).toBeGreaterThan(60);
  });

  it('a lowered rate factor lowers the grant rate', async () => {
    const p = pacer(a, () => 0.5, 500);
    const units = await drive([p], ['x', 'y'], p.limits.maxCallUnits, 1000);
    expect(units).toBeLessThanOrEqual(250 + p.limits.envelope.burst);
  });

  it('pays an item larger than a bucket in instalments', async () => {
    const p = pacer(a, () => 1, 100);
    const started = Date.now();
    await p.acquire('big', 12); // burst 2: six instalments at 100 units/s
    expect(Date.now() - started).toBeGreaterThanOrEqual(80);
  });

  it('setRates: the grant rate follows a new envelope at once, for every waiter', async () => {
    const p = pacer(a, () => 1, 1000);
    const fast = await drive([p], ['x', 'y'], p.limits.maxCallUnits, 500);
    p.setRates(100, 1000);
    expect(p.limits).toEqual(pacerLimits(100, 1000));
    const slow = await drive([p], ['x', 'y'], p.limits.maxCallUnits, 1000);
    expect(slow).toBeLessThanOrEqual(100 + 2 * p.limits.envelope.burst);
    expect(fast).toBeGreaterThan(2 * slow);
    p.setRates(1000, 100);
    const hot = await drive([p], ['hot'], p.limits.maxCallUnits, 1000);
    expect(hot).toBeLessThanOrEqual(100);
  });

  it('setRates: a waiter asking for more than the new, smaller burst is paid in new instalments, not stuck', async () => {
    const p = pacer(a, () => 1, 1000); // burst 20
    await p.acquire('shrink', 20); // empties the envelope
    const waiting = p.acquire('shrink', 20); // would take 20 at once from a bucket of burst 20
    p.setRates(100, 1000); // burst 2: 20 units at once could never be granted again
    const stuck = new Promise((_, reject) => setTimeout(() => reject(new Error('still waiting after 3 s')), 3000).unref());
    await Promise.race([waiting, stuck]);
  });

  it('stops waiting when aborted', async () => {
    const p = pacer(a, () => 1, 10);
    await p.acquire('x', 2); // empties the burst
    const ctl = new AbortController();
    const waiting = p.acquire('x', 2, ctl.signal);
    setTimeout(() => ctl.abort(new Error('closing')), 20);
    await expect(waiting).rejects.toThrow('closing');
  });
});
