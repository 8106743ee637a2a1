import { describe, expect, it } from 'vitest';
import { seededRandom } from './clock.js';
import { ContractDevice } from './contract-device.js';
import type { ContractClientOptions } from './contract-options.js';
import { compileContractOptions } from './contract-options.js';
import { LoopbackBridge } from './loopback-bridge.js';
import { ManualClock } from './manual-clock.js';
import { ScriptedConnector } from './scripted-connector.js';

const T = 'acme';
const D = 'scale-7';

function setup(client: ContractClientOptions = {}, opts: { firstSeq?: number; events?: number; seed?: number } = {}) {
  const clock = new ManualClock();
  const sc = new ScriptedConnector(clock, T, D);
  const dev = new ContractDevice({
    tenant: T,
    device: D,
    connector: sc.connector,
    clock,
    random: seededRandom(opts.seed ?? 1),
    client: { batch: { lingerMs: 0 }, ...client },
    ...(opts.firstSeq !== undefined ? { firstSeq: opts.firstSeq } : {}),
  });
  for (let i = 0; i < (opts.events ?? 0); i++) dev.enqueue('weight', { grams: 4000 + i }, clock.now());
  /** Starts the device, lets it connect, answers its sync with `wm`. */
  const online = (wm = 0) => {
    dev.start();
    clock.advance(5);
    expect(sc.syncs()).toBeGreaterThan(0);
    sc.ack({ status: 'sync', watermark: wm });
  };
  const seqs = (i = -1) => {
    const b = sc.batches();
    const batch = b[i < 0 ? b.length + i : i]!;
    return [batch.events[0]!.seq, batch.events[batch.events.length - 1]!.seq];
  };
  return { clock, sc, dev, online, seqs };
}

describe('ContractDevice: resume from the watermark', () => {
  it('the contract example: 601..750, 90 accepted, resumes at 691 no sooner than retryAfterMs', () => {
    const { clock, sc, dev, online, seqs } = setup(
      { batch: { initial: 150, max: 200, lingerMs: 0 }, drain: { ratePerSec: 50, burst: 200 } },
      { firstSeq: 601, events: 150 },
    );
    online(0);
    expect(seqs()).toEqual([601, 750]);
    const first = sc.lastBatch();
    sc.ack({ batchId: first.batchId, status: 'partial', watermark: 690, accepted: 90, duplicates: 0, deferred: { from: 691, to: 750 }, retryAfterMs: 8000, reason: 'queue_saturated' });
    expect(dev.watermark).toBe(690);
    expect(dev.pending).toBe(60);
    clock.advance(7999);
    expect(sc.batches()).toHaveLength(1);
    clock.advance(1);
    expect(sc.batches()).toHaveLength(2);
    expect(seqs()[0]).toBe(691); // never a replay of 601..690
    sc.acceptLast();
    clock.advance(10_000);
    expect(sc.batches().every((b) => b.events.every((e) => e.seq > 600 && e.seq <= 750))).toBe(true);
    expect(dev.watermark).toBeLessThanOrEqual(750);
  });

  it('after a sync, starts at watermark + 1 even when the bridge holds more than this run sent', () => {
    const { sc, online, seqs } = setup({}, { events: 40 });
    online(17);
    expect(seqs(0)[0]).toBe(18);
    expect(sc.batches()[0]!.events.length).toBeLessThanOrEqual(25);
  });

  it('an ack timeout syncs and resends from the watermark, not the whole batch', () => {
    const { clock, sc, dev, online, seqs } = setup({ ackTimeoutMs: 2000, backoff: { baseMs: 100, maxMs: 1000 } }, { events: 20 });
    online(0);
    expect(seqs()).toEqual([1, 20]);
    const syncsBefore = sc.syncs();
    clock.advance(2000);
    expect(dev.stats.ackTimeouts).toBe(1);
    expect(sc.syncs()).toBe(syncsBefore + 1);
    clock.advance(5000);
    expect(sc.batches()).toHaveLength(1); // nothing resent before the sync answer
    sc.ack({ status: 'sync', watermark: 12 }); // the lost ack had accepted 1..12
    clock.advance(1000);
    expect(sc.batches()).toHaveLength(2);
    expect(seqs()).toEqual([13, 20]);
    expect(dev.stats.retriedSent).toBe(8);
  });

  it('a late ack of a timed-out batch still moves the watermark', () => {
    const { clock, sc, dev, online } = setup({ ackTimeoutMs: 1000 }, { events: 10 });
    online(0);
    const b = sc.lastBatch();
    clock.advance(1000);
    sc.ack({ batchId: b.batchId, status: 'accepted', watermark: 10, accepted: 10, duplicates: 0 });
    expect(dev.watermark).toBe(10);
    expect(dev.pending).toBe(0);
  });

  it('after a lost connection, reconnects, syncs and resumes from the watermark', () => {
    const { clock, sc, dev, online, seqs } = setup({ reconnect: { baseMs: 1000, maxMs: 8000 } }, { events: 30 });
    online(0);
    expect(seqs()).toEqual([1, 25]);
    sc.drop();
    expect(dev.state).toBe('waiting_reconnect');
    clock.advance(1005);
    expect(sc.attempts).toBe(2);
    sc.ack({ status: 'sync', watermark: 25 });
    clock.advance(100);
    expect(seqs()).toEqual([26, 30]);
    expect(dev.stats.retriedSent).toBe(0);
  });

  it('ignores a watermark that goes backwards', () => {
    const { sc, dev, online } = setup({}, { events: 5 });
    online(3);
    sc.ack({ status: 'sync', watermark: 1 });
    expect(dev.watermark).toBe(3);
  });
});

describe('ContractDevice: batch size, credit and pacing', () => {
  it('sizes the next batch within credit', () => {
    const { clock, sc, online } = setup({}, { events: 100 });
    online(0);
    sc.acceptLast({ credit: 7 });
    clock.advance(1);
    expect(sc.lastBatch().events).toHaveLength(7);
  });

  it('credit 0: waits for the hint to expire before sending', () => {
    const { clock, sc, online } = setup({ creditTtlMs: 1000 }, { events: 100 });
    online(0);
    sc.acceptLast({ credit: 0 });
    clock.advance(999);
    expect(sc.batches()).toHaveLength(1);
    clock.advance(10);
    expect(sc.batches()).toHaveLength(2);
  });

  it('slow start: the window doubles while batches are accepted, up to batch.max', () => {
    const { clock, sc, online } = setup({ batch: { initial: 10, max: 80, lingerMs: 0 }, drain: { ratePerSec: 1000, burst: 1000 } }, { events: 1000 });
    online(0);
    const sizes: number[] = [];
    for (let i = 0; i < 5; i++) {
      sizes.push(sc.lastBatch().events.length);
      sc.acceptLast();
      clock.advance(1);
    }
    expect(sizes).toEqual([10, 20, 40, 80, 80]);
  });

  it('learns the batch cap from a batch_cap deferral and goes on without waiting', () => {
    const { clock, sc, dev, online, seqs } = setup({ batch: { initial: 100, max: 100, lingerMs: 0 } }, { events: 300 });
    online(0);
    const b = sc.lastBatch();
    sc.ack({ batchId: b.batchId, status: 'partial', watermark: 30, accepted: 30, duplicates: 0, deferred: { from: 31, to: 100 }, retryAfterMs: 0, reason: 'batch_cap', credit: 30 });
    clock.advance(0);
    expect(seqs()).toEqual([31, 60]); // invited by the credit: not charged to the retry budget
    expect(dev.stats.budgetWaits).toBe(0);
    expect(dev.pace.window).toBe(30);
    expect(dev.stats.rateCuts).toBe(0);
  });

  it('paces a backlog by the drain bucket', () => {
    const clock = new ManualClock();
    const bridge = new LoopbackBridge({ clock, device: { ratePerSec: 1e6, burst: 1e6 }, maxAcceptPerBatch: 500 });
    const dev = new ContractDevice({ tenant: T, device: D, connector: bridge.connector, clock, random: seededRandom(3), client: { drain: { ratePerSec: 40, burst: 100 }, batch: { initial: 100, max: 100 } } });
    for (let i = 0; i < 2000; i++) dev.enqueue('t', {});
    dev.start();
    clock.advance(20_000);
    // burst 100 at once, then 40/s, taken a whole batch at a time
    expect(dev.stats.eventsSent).toBeGreaterThanOrEqual(100 + 40 * 20 - 100);
    expect(dev.stats.eventsSent).toBeLessThanOrEqual(100 + 40 * 20);
  });
});

describe('ContractDevice: deferrals, backoff and the retry budget', () => {
  it('a deferral credit holds from retryAfterMs on, and sizes the resend', () => {
    const { clock, sc, online, seqs } = setup({ creditTtlMs: 500, batch: { initial: 100, max: 100, lingerMs: 0 } }, { events: 100 });
    online(0);
    const b = sc.lastBatch();
    sc.ack({ batchId: b.batchId, status: 'partial', watermark: 40, accepted: 40, duplicates: 0, deferred: { from: 41, to: 100 }, retryAfterMs: 3000, reason: 'device_rate_limited', credit: 45 });
    clock.advance(3000);
    expect(seqs()).toEqual([41, 85]);
  });

  it('never resends before retryAfterMs, and backoff grows while nothing is accepted', () => {
    const { clock, sc, online } = setup({ backoff: { baseMs: 1000, maxMs: 60_000 } }, { events: 10, seed: 9 });
    online(0);
    const times: number[] = [];
    for (let i = 0; i < 6; i++) {
      const b = sc.lastBatch();
      const sentAt = clock.now();
      sc.ack({ batchId: b.batchId, status: 'deferred', watermark: 0, accepted: 0, duplicates: 0, deferred: { from: 1, to: 10 }, retryAfterMs: 500, reason: 'tenant_rate_limited' });
      const n = sc.batches().length;
      let waited = 0;
      while (sc.batches().length === n && waited < 120_000) {
        clock.advance(10);
        waited += 10;
      }
      times.push(clock.now() - sentAt);
    }
    expect(Math.min(...times)).toBeGreaterThanOrEqual(500);
    // jitter ceilings 1s, 2s, 4s, 8s, 16s, 32s: later waits may be long, never longer than the ceiling (+ budget waits)
    expect(times[0]).toBeLessThanOrEqual(1010);
  });

  it('cuts the drain rate under repeated pressure and recovers additively', () => {
    const { clock, sc, dev, online } = setup({ drain: { ratePerSec: 40, burst: 200 }, pressure: { repeat: 2, increasePerAck: 4 }, retryBudget: { ratio: 1, minBurst: 1000 } }, { events: 500 });
    online(0);
    for (let i = 0; i < 2; i++) {
      const b = sc.lastBatch();
      const from = b.events[0]!.seq;
      sc.ack({ batchId: b.batchId, status: 'partial', watermark: from, accepted: 1, duplicates: 0, deferred: { from: from + 1, to: b.events[b.events.length - 1]!.seq }, retryAfterMs: 1200, reason: 'storage_backpressure' });
      clock.advance(1500);
    }
    expect(dev.stats.rateCuts).toBe(1);
    expect(dev.pace.ratePerSec).toBe(20);
    for (let i = 0; i < 3; i++) {
      sc.acceptLast();
      clock.advance(2000);
    }
    expect(dev.pace.ratePerSec).toBe(32);
  });

  it('over the retry budget: waits instead of resending, then resends only what the budget covers', () => {
    const { clock, sc, dev, online, seqs } = setup(
      { retryBudget: { ratio: 0, minPerSec: 1, minBurst: 5 }, batch: { initial: 20, max: 20, lingerMs: 0 }, backoff: { baseMs: 0, maxMs: 0 } },
      { events: 20 },
    );
    const deferAll = (to: number) => {
      const b = sc.lastBatch();
      sc.ack({ batchId: b.batchId, status: 'deferred', watermark: 0, accepted: 0, duplicates: 0, deferred: { from: 1, to }, retryAfterMs: 100, reason: 'queue_saturated' });
    };
    online(0);
    deferAll(20);
    clock.advance(100);
    expect(seqs()).toEqual([1, 5]); // the reserve covers 5 resent events
    deferAll(5); // deferred again: waste, not refunded
    clock.advance(1000);
    expect(sc.batches()).toHaveLength(2); // budget empty: wait
    expect(dev.stats.budgetWaits).toBeGreaterThan(0);
    clock.advance(5000);
    expect(seqs()).toEqual([1, 5]);
    expect(sc.batches()).toHaveLength(3);
    expect(dev.stats.retriedSent).toBe(10);
  });

  it.each([
    [0, 0],
    [60_000, 1],
  ])('after %i ms of calm, a resend the bridge takes is refunded (budget waits ≥ %i)', (refundAfterCalmMs, waits) => {
    const { clock, sc, dev, online, seqs } = setup(
      { retryBudget: { ratio: 0, minPerSec: 0.01, minBurst: 2, refundAfterCalmMs }, batch: { initial: 5, max: 5, lingerMs: 0 }, backoff: { baseMs: 0, maxMs: 0 } },
      { events: 30 },
    );
    online(0);
    for (let i = 0; i < 4; i++) {
      sc.acceptLast();
      clock.advance(1);
    }
    expect(seqs()).toEqual([21, 25]);
    // 5 events to resend, more than the reserve of 2 ...
    const b = sc.lastBatch();
    sc.ack({ batchId: b.batchId, status: 'deferred', watermark: 20, accepted: 0, duplicates: 0, deferred: { from: 21, to: 25 }, retryAfterMs: 100, reason: 'queue_saturated' });
    clock.advance(100);
    expect(seqs()[0]).toBe(21);
    // ... every resend is taken: refunded after calm, so the drain goes on without waiting; during
    // pressure (no calm yet) not refunded, so the device waits for its reserve
    for (let i = 0; i < 10 && dev.watermark < 30; i++) {
      sc.acceptLast();
      clock.advance(1);
    }
    if (waits === 0) {
      expect(dev.watermark).toBe(30);
      expect(dev.stats.budgetWaits).toBe(0);
    } else {
      expect(dev.watermark).toBeLessThan(30);
      expect(dev.stats.budgetWaits).toBeGreaterThanOrEqual(waits);
    }
  });

  it('a rejected batch is logged, dropped and counted; the device goes on after it', () => {
    const errors: string[] = [];
    const clock = new ManualClock();
    const sc = new ScriptedConnector(clock, T, D);
    const dev = new ContractDevice({
      tenant: T,
      device: D,
      connector: sc.connector,
      clock,
      client: { batch: { initial: 10, max: 10, lingerMs: 0 } },
      log: { warn: () => {}, debug: () => {}, error: (_o, m) => errors.push(m) },
    });
    for (let i = 0; i < 15; i++) dev.enqueue('t', {});
    dev.start();
    clock.advance(5);
    sc.ack({ status: 'sync', watermark: 0 });
    const b = sc.lastBatch();
    sc.ack({ batchId: b.batchId, status: 'rejected', watermark: 0, error: { code: 'event_too_large', message: 'events.3.data is 9000 bytes' } });
    clock.advance(1);
    expect(dev.stats.rejectedBatches).toBe(1);
    expect(dev.stats.rejectedEvents).toBe(10);
    expect(errors).toHaveLength(1);
    expect(sc.lastBatch().events[0]!.seq).toBe(11);
    expect(dev.pending).toBe(5);
  });
});

describe('ContractDevice: connections', () => {
  it('a refused connection (CONNACK 3) is retried after a jittered, growing delay', () => {
    const delays = (seed: number) => {
      const { clock, sc, dev } = setup({ reconnect: { baseMs: 1000, maxMs: 30_000 } }, { seed });
      sc.plan = ['refuse', 'refuse', 'refuse', 'refuse'];
      dev.start();
      const at: number[] = [];
      let last = sc.attempts;
      for (let t = 0; t < 120_000 && sc.attempts < 5; t += 10) {
        clock.advance(10);
        if (sc.attempts !== last) {
          at.push(clock.now());
          last = sc.attempts;
        }
      }
      expect(dev.stats.connectRefused).toBe(4);
      expect(sc.attempts).toBe(5);
      return at.map((t, i) => t - (i === 0 ? 0 : at[i - 1]!));
    };
    const a = delays(1);
    const b = delays(2);
    expect(a).not.toEqual(b);
    const ceilings = [1000, 2000, 4000, 8000];
    a.slice(1).forEach((d, i) => expect(d).toBeLessThanOrEqual(ceilings[i + 1]! + 20));
  });

  it('an unanswered sync is retried, then the connection is replaced', () => {
    const { clock, sc, dev } = setup({ syncTimeoutMs: 1000, maxSyncAttempts: 2, backoff: { baseMs: 100, maxMs: 100 }, reconnect: { baseMs: 100, maxMs: 100 } });
    dev.start();
    clock.advance(5);
    expect(sc.syncs()).toBe(1);
    clock.advance(1100);
    expect(sc.syncs()).toBe(2);
    expect(sc.attempts).toBe(1);
    clock.advance(1300); // second sync times out (≤ 2105), reconnect within 100 ms
    expect(sc.attempts).toBe(2);
    expect(sc.syncs()).toBe(3);
  });
});

describe('ContractDevice against the loopback bridge', () => {
  it('drains a backlog: every event stored once, retries a small fraction of fresh sends', () => {
    const clock = new ManualClock();
    const bridge = new LoopbackBridge({ clock, device: { ratePerSec: 20, burst: 100 }, maxAcceptPerBatch: 50 });
    const devices = Array.from({ length: 20 }, (_, i) =>
      new ContractDevice({ tenant: T, device: `d${i}`, connector: bridge.connector, clock, random: seededRandom(i + 1) }),
    );
    for (const d of devices) for (let i = 0; i < 300; i++) d.enqueue('t', { i });
    devices.forEach((d) => d.start());
    clock.advance(120_000);
    for (const d of devices) {
      expect(d.watermark).toBe(300);
      const stored = bridge.stored(T, d.device);
      expect(stored.size).toBe(300);
      expect([...stored.values()].every((c) => c === 1)).toBe(true);
      expect(d.stats.eventsSent / d.stats.eventsCreated).toBeLessThanOrEqual(1.1);
    }
  });
});

describe('compileContractOptions', () => {
  it.each([
    [{ drain: { ratePerSec: 0 } }, /^drain\.ratePerSec: must be > 0/],
    [{ batch: { max: 500 } }, /^batch\.max: must be ≤ drain\.burst/],
    [{ batch: { initial: 0 } }, /^batch\.initial/],
    [{ backoff: { baseMs: 100, maxMs: 50 } }, /^backoff\.maxMs: must be ≥ backoff\.baseMs/],
    [{ retryBudget: { ratio: 2 } }, /^retryBudget\.ratio/],
    [{ retryBudget: { ratio: 0, minPerSec: 0 } }, /^retryBudget\.minPerSec/],
    [{ pressure: { decrease: 1 } }, /^pressure\.decrease/],
    [{ maxInFlight: 0 }, /^maxInFlight/],
  ] as [ContractClientOptions, RegExp][])('%j is refused naming the field', (opts, re) => {
    expect(() => compileContractOptions(opts)).toThrow(re);
  });
  it('fills every default and freezes', () => {
    const s = compileContractOptions({ drain: { burst: 300 } });
    expect(s.drain).toEqual({ ratePerSec: 40, burst: 300 });
    expect(Object.isFrozen(s.drain)).toBe(true);
  });
});
