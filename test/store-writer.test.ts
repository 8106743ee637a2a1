// The idempotent writer against real Redis (pacing) and real dynalite: a config reload changes the size of its
// BatchWriteItem calls and its backoff for the calls that follow.
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisTokenBuckets } from '../src/admission/token-bucket.js';
import { sharedKeys } from '../src/queue/keys.js';
import { createStoreMetrics, type StoreMetrics } from '../src/store/metrics.js';
import { WritePacer } from '../src/store/pacer.js';
import { SharedRateFactor } from '../src/store/rate-factor.js';
import { IdempotentWriter } from '../src/store/writer.js';
import { createLogger } from '../src/telemetry/logger.js';
import { deviceItems, makeEvents, startStoreRig, type StoreRig } from './store-support.js';

let rig: StoreRig;
beforeAll(async () => {
  rig = await startStoreRig();
});
afterAll(async () => {
  await rig?.stop();
});

async function calls(registry: Registry): Promise<number> {
  const m = await registry.getSingleMetric('ingest_store_batch_write_duration_seconds')!.get();
  return m.values.find((v) => (v as { metricName?: string }).metricName === 'ingest_store_batch_write_duration_seconds_count')?.value ?? 0;
}

describe('IdempotentWriter.setLimits', () => {
  it('the next job is written in calls of the new batchWriteMaxItems', async () => {
    const prefix = rig.config.redis.keyPrefix;
    const registry = new Registry();
    const metrics: StoreMetrics = createStoreMetrics(registry);
    // An envelope wide enough that the item count, not the units per call, bounds each call.
    const pacer = new WritePacer({ buckets: new RedisTokenBuckets(rig.cmd), keys: sharedKeys(`${prefix}w`), writeUnitsPerSec: 10_000, partitionWriteUnitsPerSec: 1000, rateFactor: () => 1 });
    expect(pacer.limits.maxCallUnits).toBeGreaterThanOrEqual(25);
    const writer = new IdempotentWriter({
      client: rig.dynamo,
      table: rig.config.dynamodb.table,
      pacer,
      rateFactor: new SharedRateFactor(rig.cmd, `${prefix}w:wcu:factor`),
      batchWriteMaxItems: 25,
      backoff: { baseMs: 50, maxMs: 1000 },
      metrics,
      log: createLogger('silent'),
    });

    await writer.writeJob({ tenant: 'w', device: 'before', events: makeEvents(1, 20), acceptedAt: 1 });
    expect(await calls(registry)).toBe(1);

    writer.setLimits({ batchWriteMaxItems: 5, backoff: { baseMs: 10, maxMs: 100 } });
    expect(writer.limits).toEqual({ batchWriteMaxItems: 5, backoff: { baseMs: 10, maxMs: 100 } });
    const r = await writer.writeJob({ tenant: 'w', device: 'after', events: makeEvents(1, 20), acceptedAt: 1 });
    expect(r).toMatchObject({ written: 20, duplicates: 0 });
    expect(await calls(registry)).toBe(1 + 4);
    expect(await deviceItems(rig, 'w', 'after')).toHaveLength(20);
  });

  it.each([
    [{ batchWriteMaxItems: 0, backoff: { baseMs: 10, maxMs: 100 } }],
    [{ batchWriteMaxItems: 5, backoff: { baseMs: 100, maxMs: 10 } }],
  ])('refuses %j and keeps its limits', (bad) => {
    const pacer = new WritePacer({ buckets: new RedisTokenBuckets(rig.cmd), keys: sharedKeys('unused'), writeUnitsPerSec: 100, partitionWriteUnitsPerSec: 100, rateFactor: () => 1 });
    const writer = new IdempotentWriter({
      client: rig.dynamo,
      table: rig.config.dynamodb.table,
      pacer,
      rateFactor: new SharedRateFactor(rig.cmd, 'unused:wcu:factor'),
      batchWriteMaxItems: 25,
      backoff: { baseMs: 50, maxMs: 1000 },
      metrics: createStoreMetrics(new Registry()),
      log: createLogger('silent'),
    });
    expect(() => writer.setLimits(bad)).toThrow(RangeError);
    expect(writer.limits).toEqual({ batchWriteMaxItems: 25, backoff: { baseMs: 50, maxMs: 1000 } });
  });
});
