// The contract at the MQTT edge, end to end: real MQTT clients, real Redis, the whole bridge.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import mqtt from 'mqtt';
import { startTestBridge, testConfig, type TestBridge } from './support/harness.js';
import { TestDevice, events } from './support/mqtt-device.js';
import { sharedKeys } from '../src/queue/keys.js';
import { STORE_QUEUE } from '../src/queue/jobs.js';

/** Queue state of a test bridge: store jobs (kept after completion) and events the edge ever queued. */
async function queued(tb: TestBridge): Promise<{ jobs: number; events: number }> {
  const q = new Queue(STORE_QUEUE, { connection: { url: tb.config.redis.url! }, prefix: tb.config.redis.keyPrefix });
  const redis = new Redis(tb.config.redis.url!);
  try {
    const counts = await q.getJobCounts('waiting', 'active', 'completed', 'delayed', 'failed');
    const jobs = Object.values(counts).reduce((a, b) => a + b, 0);
    return { jobs, events: Number(await redis.get(`${tb.config.redis.keyPrefix}:stored:events`)) + Number(await redis.get(sharedKeys(tb.config.redis.keyPrefix).depthEvents)) };
  } finally {
    await q.close();
    redis.disconnect();
  }
}

describe('the seed example: [601..750] with capacity for 90', () => {
  let tb: TestBridge;
  let dev: TestDevice;
  beforeAll(async () => {
    tb = await startTestBridge({ admission: { maxAcceptPerBatch: 90 } });
    dev = await TestDevice.connect(tb.bridge.mqttPort, 'petco', 'feeder-1');
  });
  afterAll(async () => {
    await dev?.close();
    await tb?.stop();
  });

  it('accepts a prefix, defers the rest, and says where to resume', async () => {
    const ack = await dev.send('b-42', events(601, 750));
    expect(ack).toMatchObject({ batchId: 'b-42', status: 'partial', watermark: 690, accepted: 90, duplicates: 0, deferred: { from: 691, to: 750 }, reason: 'batch_cap', retryAfterMs: 0 });
  });

  it('accepts the resend from watermark + 1', async () => {
    const ack = await dev.send('b-43', events(691, 750));
    expect(ack).toMatchObject({ batchId: 'b-43', status: 'accepted', watermark: 750, accepted: 60, duplicates: 0 });
    expect(ack.deferred).toBeUndefined();
  });

  it('reports a full resend as duplicates and enqueues nothing twice', async () => {
    const before = await queued(tb);
    const ack = await dev.send('b-44', events(601, 750));
    expect(ack).toMatchObject({ status: 'accepted', watermark: 750, accepted: 0, duplicates: 150 });
    const after = await queued(tb);
    expect(after).toEqual(before);
    expect(after.events).toBe(150);
  });

  it('answers a sync with the watermark', async () => {
    expect(await dev.sync()).toMatchObject({ status: 'sync', watermark: 750 });
    const fresh = await TestDevice.connect(tb.bridge.mqttPort, 'petco', 'never-seen');
    try {
      expect(await fresh.sync()).toMatchObject({ status: 'sync', watermark: 0 });
    } finally {
      await fresh.close();
    }
  });

  it.each([
    ['invalid_json', '{"batchId":"bad-1",'],
    ['invalid_batch', JSON.stringify({ batchId: 'bad-2', events: [{ seq: 1, ts: 1, type: 't' }] })],
    ['seq_not_increasing', JSON.stringify({ batchId: 'bad-3', events: [...events(900, 901), ...events(900, 900)] })],
    ['too_many_events', JSON.stringify({ batchId: 'bad-4', events: events(1000, 1600) })],
    ['event_too_large', JSON.stringify({ batchId: 'bad-5', events: [{ seq: 2000, ts: 1, type: 't', data: { s: 'x'.repeat(9000) } }] })],
  ])('rejects %s with its code and keeps the connection', async (code, payload) => {
    const batchId = JSON.parse(payload.replace(/,$/, '}')).batchId as string;
    const ack = await dev.sendRaw(batchId, payload);
    expect(ack).toMatchObject({ status: 'rejected', watermark: 750, error: { code } });
    expect(dev.client.connected).toBe(true);
    expect(await dev.sync()).toMatchObject({ watermark: 750 });
  });

  it('rejects payload_too_large (without a batchId it could read) and keeps the connection', async () => {
    const big = JSON.stringify({ batchId: 'bad-6', events: events(3000, 3001), pad: 'x'.repeat(1_100_000) });
    const before = dev.acks.length;
    await dev.client.publishAsync('ingest/petco/feeder-1/batch', big, { qos: 1 });
    await expect.poll(() => dev.acks.length, { timeout: 10_000 }).toBeGreaterThan(before);
    expect(dev.acks[dev.acks.length - 1]).toMatchObject({ status: 'rejected', error: { code: 'payload_too_large' } });
    expect(dev.client.connected).toBe(true);
  });
});

describe('token buckets: partial grants and retryAfterMs from the refill time', () => {
  let tb: TestBridge;
  beforeAll(async () => {
    tb = await startTestBridge({
      admission: {
        maxAcceptPerBatch: 500,
        device: { ratePerSec: 10, burst: 50 },
        tenants: { default: { ratePerSec: 1000, burst: 5000, maxInFlightBatches: 64 }, tiny: { ratePerSec: 20, burst: 40 }, slowdev: { device: { ratePerSec: 5, burst: 10 } } },
        retryAfter: { minMs: 1, spread: 0 },
      },
    });
  });
  afterAll(async () => tb?.stop());

  it('a device bucket grants part of a batch; retryAfterMs is the refill time of the rest (±20%)', async () => {
    const dev = await TestDevice.connect(tb.bridge.mqttPort, 'acme', 'd1');
    try {
      const ack = await dev.send('r1', events(1, 80));
      expect(ack).toMatchObject({ status: 'partial', accepted: 50, watermark: 50, deferred: { from: 51, to: 80 }, reason: 'device_rate_limited' });
      // 30 events at 10/s
      expect(ack.retryAfterMs).toBeGreaterThanOrEqual(3000 * 0.8);
      expect(ack.retryAfterMs).toBeLessThanOrEqual(3000 * 1.2);
      expect(ack.credit).toBeGreaterThanOrEqual(25);
      expect(ack.credit).toBeLessThanOrEqual(35);
    } finally {
      await dev.close();
    }
  });

  it('a tenant bucket grants part of a batch across its devices', async () => {
    const a = await TestDevice.connect(tb.bridge.mqttPort, 'tiny', 'a');
    const b = await TestDevice.connect(tb.bridge.mqttPort, 'tiny', 'b');
    try {
      const first = await a.send('t1', events(1, 30));
      expect(first).toMatchObject({ status: 'accepted', accepted: 30 });
      const t0 = Date.now();
      const second = await b.send('t2', events(1, 30));
      expect(second).toMatchObject({ status: 'partial', reason: 'tenant_rate_limited', deferred: { to: 30 } });
      // 10 left of the 40, plus what 20/s refilled meanwhile
      expect(second.accepted).toBeGreaterThanOrEqual(10);
      expect(second.accepted).toBeLessThanOrEqual(11 + Math.ceil(((Date.now() - t0 + 50) * 20) / 1000));
      // the rest (≈ 20 events) at 20/s: ≈ 1 s
      const rest = 30 - second.accepted!;
      expect(second.retryAfterMs).toBeGreaterThanOrEqual(((rest * 1000) / 20) * 0.8);
      expect(second.retryAfterMs).toBeLessThanOrEqual(((rest * 1000) / 20) * 1.2);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a tenant override applies only to its tenant', async () => {
    const slow = await TestDevice.connect(tb.bridge.mqttPort, 'slowdev', 'x');
    const other = await TestDevice.connect(tb.bridge.mqttPort, 'othertenant', 'x');
    try {
      expect(await slow.send('o1', events(1, 30))).toMatchObject({ status: 'partial', accepted: 10, reason: 'device_rate_limited' });
      expect(await other.send('o2', events(1, 30))).toMatchObject({ status: 'accepted', accepted: 30 });
    } finally {
      await slow.close();
      await other.close();
    }
  });
});

describe('two bridge instances on one Redis', () => {
  let a: TestBridge;
  let b: TestBridge;
  beforeAll(async () => {
    const overrides = { admission: { device: { ratePerSec: 1, burst: 50 }, retryAfter: { minMs: 1, spread: 0 } } };
    const shared = testConfig(overrides);
    a = await startTestBridge({}, { config: shared });
    // Same Redis, key prefix, table and index; own ports.
    b = await startTestBridge({}, { config: testConfig({ ...overrides, redis: { keyPrefix: shared.redis.keyPrefix }, dynamodb: { table: shared.dynamodb.table }, opensearch: { index: shared.opensearch.index } }) });
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
  });

  it('see one watermark and one token bucket', async () => {
    const onA = await TestDevice.connect(a.bridge.mqttPort, 'acme', 'roamer');
    const onB = await TestDevice.connect(b.bridge.mqttPort, 'acme', 'roamer');
    try {
      expect(await onA.send('x1', events(1, 30))).toMatchObject({ status: 'accepted', watermark: 30 });
      expect(await onB.sync()).toMatchObject({ watermark: 30 });
      const second = await onB.send('x2', events(25, 60));
      // 25..30 are duplicates everywhere; the bucket has ≈ 20 of its 50 left.
      expect(second).toMatchObject({ status: 'partial', duplicates: 6, reason: 'device_rate_limited' });
      expect(second.accepted).toBeGreaterThanOrEqual(20);
      expect(second.accepted).toBeLessThanOrEqual(21);
      expect(await onA.sync()).toMatchObject({ watermark: second.watermark });
    } finally {
      await onA.close();
      await onB.close();
    }
  });
});

describe('connect storms', () => {
  let tb: TestBridge;
  beforeAll(async () => {
    tb = await startTestBridge({ mqtt: { connect: { ratePerSec: 1, burst: 5 } } });
  });
  afterAll(async () => tb?.stop());

  it('refuses connects beyond the rate at once with CONNACK 3, and admitted clients keep working', async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const started = Date.now();
        try {
          const d = await TestDevice.connect(tb.bridge.mqttPort, 'storm', `d${i}`);
          return { ok: true as const, d, ms: Date.now() - started };
        } catch (err) {
          return { ok: false as const, code: (err as { code?: number }).code, ms: Date.now() - started };
        }
      }),
    );
    const admitted = outcomes.filter((o) => o.ok);
    const refused = outcomes.filter((o) => !o.ok);
    expect(admitted.length).toBeGreaterThanOrEqual(5);
    expect(admitted.length).toBeLessThanOrEqual(6);
    expect(refused.every((o) => !o.ok && o.code === 3)).toBe(true);
    expect(Math.max(...refused.map((o) => o.ms))).toBeLessThan(1000);
    for (const [i, o] of admitted.entries()) {
      if (o.ok) expect(await o.d.send(`s${i}`, events(1, 3))).toMatchObject({ status: 'accepted', accepted: 3 });
    }
    await Promise.all(admitted.map((o) => (o.ok ? o.d.close() : undefined)));
    const metrics = await (await fetch(`http://127.0.0.1:${tb.bridge.httpPort}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`ingest_connects_total\\{outcome="refused_rate"\\} ${refused.length}`));
  });
});

describe('publishes outside the contract', () => {
  let tb: TestBridge;
  beforeAll(async () => {
    tb = await startTestBridge();
  });
  afterAll(async () => tb?.stop());

  it('close that connection, are counted, and leave the broker serving others', async () => {
    const bystander = await TestDevice.connect(tb.bridge.mqttPort, 'acme', 'bystander');
    const rogue = await mqtt.connectAsync(`mqtt://127.0.0.1:${tb.bridge.mqttPort}`, { protocolVersion: 4, reconnectPeriod: 0 });
    const closed = new Promise<void>((resolve) => rogue.once('close', () => resolve()));
    rogue.publish('not/a/contract/topic', 'x', { qos: 1 });
    await closed;
    const spoof = await mqtt.connectAsync(`mqtt://127.0.0.1:${tb.bridge.mqttPort}`, { protocolVersion: 4, reconnectPeriod: 0 });
    const spoofClosed = new Promise<void>((resolve) => spoof.once('close', () => resolve()));
    spoof.publish('ingest/acme/bystander/ack', '{"status":"accepted","watermark":999}', { qos: 1 });
    await spoofClosed;
    expect(await bystander.send('still-here', events(1, 2))).toMatchObject({ status: 'accepted', watermark: 2 });
    await bystander.close();
    const metrics = await (await fetch(`http://127.0.0.1:${tb.bridge.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/ingest_publish_refused_total\{reason="outside_contract"\} 1/);
    expect(metrics).toMatch(/ingest_publish_refused_total\{reason="not_own_topic"\} 1/);
  });
});

describe('a deferred range is never jumped over', () => {
  let tb: TestBridge;
  beforeAll(async () => {
    tb = await startTestBridge({ admission: { maxAcceptPerBatch: 70, retryAfter: { minMs: 50 } } });
  });
  afterAll(async () => tb?.stop());

  it('defers a later batch that starts above the outstanding range until the device resends from the watermark', async () => {
    const dev = await TestDevice.connect(tb.bridge.mqttPort, 'acme', 'holey');
    try {
      expect(await dev.send('h1', events(1, 100))).toMatchObject({ status: 'partial', watermark: 70, deferred: { from: 71, to: 100 } });
      // A live event sent before the deferred tail (or a second batch in flight): accepting it would
      // move the watermark over 71..100, which are not stored.
      expect(await dev.send('h2', events(101, 102))).toMatchObject({ status: 'deferred', watermark: 70, accepted: 0, deferred: { from: 101, to: 102 }, reason: 'batch_cap' });
      expect(await dev.send('h3', events(71, 102))).toMatchObject({ status: 'accepted', watermark: 102, accepted: 32 });
      // The range is resolved: a new batch goes through.
      expect(await dev.send('h4', events(103, 110))).toMatchObject({ status: 'accepted', watermark: 110 });
      const q = new Queue(STORE_QUEUE, { connection: { url: tb.config.redis.url! }, prefix: tb.config.redis.keyPrefix });
      const jobs = await q.getJobs(['waiting', 'active', 'completed', 'delayed']);
      await q.close();
      const seqs = jobs.flatMap((j) => (j.data as { events: { seq: number }[] }).events.map((e) => e.seq)).sort((a, b) => a - b);
      expect(seqs).toEqual(events(1, 110).map((e) => e.seq));
    } finally {
      await dev.close();
    }
  });
});
