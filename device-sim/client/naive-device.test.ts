import { describe, expect, it } from 'vitest';
import { seededRandom } from './clock.js';
import { ContractDevice } from './contract-device.js';
import { LoopbackBridge } from './loopback-bridge.js';
import { ManualClock } from './manual-clock.js';
import { NaiveDevice, type NaiveClientSettings } from './naive-device.js';
import { ScriptedConnector } from './scripted-connector.js';

const T = 'acme';
const D = 'old-fw-1';

function setup(client: Partial<NaiveClientSettings>, events: number, tsOffsetMs = 0) {
  const clock = new ManualClock();
  const sc = new ScriptedConnector(clock, T, D);
  const dev = new NaiveDevice({ tenant: T, device: D, connector: sc.connector, clock, client });
  for (let i = 0; i < events; i++) dev.enqueue('t', { i }, clock.now() - tsOffsetMs);
  return { clock, sc, dev };
}

const range = (b: { events: { seq: number }[] }) => [b.events[0]!.seq, b.events[b.events.length - 1]!.seq];

describe('NaiveDevice', () => {
  it('flushes the whole backlog as parallel batches, without waiting for acks', () => {
    const { clock, sc, dev } = setup({ batchSize: 10 }, 35);
    dev.start();
    clock.advance(5);
    expect(sc.batches().map(range)).toEqual([[1, 10], [11, 20], [21, 30], [31, 35]]);
    expect(sc.syncs()).toBe(0); // never asks for the watermark
  });

  it('on reconnect replays the last N minutes, already-delivered events included', () => {
    const { clock, sc, dev } = setup({ batchSize: 100, replayWindowMs: 10 * 60_000, reconnectDelayMs: 1000 }, 30);
    dev.start();
    clock.advance(5);
    sc.acceptLast();
    expect(dev.unconfirmed).toBe(0);
    sc.drop();
    clock.advance(1005); // fixed delay, no jitter
    expect(sc.attempts).toBe(2);
    expect(sc.batches().map(range)).toEqual([[1, 30], [1, 30]]);
    sc.ack({ batchId: sc.lastBatch().batchId, status: 'accepted', watermark: 30, accepted: 0, duplicates: 30 });
    expect(dev.stats.duplicatesReported).toBe(30);
    expect(dev.stats.retriedSent).toBe(30);
  });

  it('outside the replay window only unconfirmed events are resent', () => {
    const { clock, sc, dev } = setup({ batchSize: 10, replayWindowMs: 60_000 }, 20, 120_000);
    dev.start();
    clock.advance(5);
    const [first] = sc.batches();
    sc.ack({ batchId: first!.batchId, status: 'accepted', watermark: 10, accepted: 10, duplicates: 0 });
    sc.drop();
    clock.advance(2000);
    expect(sc.batches().slice(2).map(range)).toEqual([[11, 20]]);
  });

  it('resends the whole batch after its fixed delay on a deferral, ignoring retryAfterMs and the watermark', () => {
    const { clock, sc, dev } = setup({ batchSize: 150, retryDelayMs: 1000 }, 150);
    dev.start();
    clock.advance(5);
    const b = sc.lastBatch();
    sc.ack({ batchId: b.batchId, status: 'partial', watermark: 90, accepted: 90, duplicates: 0, deferred: { from: 91, to: 150 }, retryAfterMs: 8000, reason: 'queue_saturated' });
    clock.advance(1000);
    expect(sc.batches()).toHaveLength(2);
    expect(range(sc.lastBatch())).toEqual([1, 150]);
    expect(dev.stats.retriedSent).toBe(150);
  });

  it('resends the whole batch after an ack timeout', () => {
    const { clock, sc, dev } = setup({ batchSize: 50, ackTimeoutMs: 2000, retryDelayMs: 500 }, 50);
    dev.start();
    clock.advance(5);
    clock.advance(2500);
    expect(dev.stats.ackTimeouts).toBe(1);
    expect(sc.batches().map(range)).toEqual([[1, 50], [1, 50]]);
  });

  it('against the loopback bridge: ends with every event stored once, at a higher amplification than the contract client', () => {
    const run = (kind: 'naive' | 'contract') => {
      const clock = new ManualClock();
      const bridge = new LoopbackBridge({ clock, device: { ratePerSec: 20, burst: 100 }, maxAcceptPerBatch: 50 });
      const devs = Array.from({ length: 10 }, (_, i) =>
        kind === 'naive'
          ? new NaiveDevice({ tenant: T, device: `d${i}`, connector: bridge.connector, clock, client: { batchSize: 100 } })
          : new ContractDevice({ tenant: T, device: `d${i}`, connector: bridge.connector, clock, random: seededRandom(i + 1) }),
      );
      for (const d of devs) for (let i = 0; i < 200; i++) d.enqueue('t', { i });
      devs.forEach((d) => d.start());
      clock.advance(30_000);
      // a reconnect: the naive devices replay what is already stored
      bridge.dropAll();
      clock.advance(60_000);
      let sent = 0;
      for (const d of devs) {
        expect(d.watermark).toBe(200);
        const stored = bridge.stored(T, d.device);
        expect(stored.size).toBe(200);
        expect([...stored.values()].every((c) => c === 1)).toBe(true);
        sent += d.stats.eventsSent;
      }
      return sent / 2000;
    };
    const naive = run('naive');
    const contract = run('contract');
    expect(contract).toBeLessThanOrEqual(1.1);
    expect(naive).toBeGreaterThan(2 * contract);
  });
});
