// Throttling from "DynamoDB" (the capacity proxy) slows the store writers down instead of failing jobs:
// a throttling burst, and a table whose real capacity is below the configured envelope.
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EventsJob } from '../src/queue/jobs.js';
import { sharedKeys, type StoragePressure } from '../src/queue/keys.js';
import { startStoreWorker, type StoreWorker } from '../src/store/store-worker.js';
import { createLogger } from '../src/telemetry/logger.js';
import {
  contiguousWindows,
  deviceItems,
  enqueueLikeEdge,
  jobsFor,
  makeEvents,
  startStoreRig,
  storedEvent,
  storeQueueIdle,
  waitFor,
  type StoreRig,
} from './store-support.js';

const ENVELOPE = 1000;
let rig: StoreRig;
let worker: StoreWorker | undefined;

async function metric(registry: Registry, name: string): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  return (m?.values ?? []).reduce((s, v) => s + v.value, 0);
}

function fleet(devices: number, perDevice: number, salt: string): { jobs: EventsJob[]; sent: Map<string, ReturnType<typeof makeEvents>> } {
  const sent = new Map<string, ReturnType<typeof makeEvents>>();
  const perDev: EventsJob[][] = [];
  for (let d = 0; d < devices; d++) {
    const events = makeEvents(1, perDevice, 0, salt);
    sent.set(`${salt}-${d}`, events);
    perDev.push(jobsFor('acme', `${salt}-${d}`, events, 50));
  }
  const jobs: EventsJob[] = [];
  for (let i = 0; perDev.some((j) => j[i]); i++) for (const j of perDev) if (j[i]) jobs.push(j[i]!);
  return { jobs, sent };
}

async function drained(): Promise<boolean> {
  return (await rig.cmd.get(sharedKeys(rig.config.redis.keyPrefix).depthEvents)) === '0' && (await storeQueueIdle(rig));
}

beforeAll(async () => {
  rig = await startStoreRig({ overrides: { storage: { writeUnitsPerSec: ENVELOPE, workerConcurrency: 8, backoff: { baseMs: 50, maxMs: 1000 } } } });
});
afterEach(async () => {
  await worker?.close();
  worker = undefined;
  await rig.cmd.del(`${rig.config.redis.keyPrefix}:wcu:factor`);
});
afterAll(async () => {
  await rig?.stop();
});

describe('store stage under throttling', () => {
  it('a throttling burst slows the writers: no failed job, no lost event, throttles counted', async () => {
    const registry = new Registry();
    worker = await startStoreWorker({ config: rig.config, redisUrl: rig.redis.url, dynamo: rig.dynamo, registry, log: createLogger('silent') });
    const { jobs, sent } = fleet(10, 500, 'burst');
    rig.proxy.resetStats();
    await enqueueLikeEdge(rig, jobs);
    await waitFor('writes under way', () => rig.proxy.stats().totals.items > 1000, 20_000, 20);

    const burstStart = Date.now();
    rig.proxy.throttleFor(1500);
    // The edge reads throttling from the published storage pressure.
    let sawPressure: StoragePressure | null = null;
    await waitFor(
      'throttling published',
      async () => {
        const raw = await rig.cmd.get(sharedKeys(rig.config.redis.keyPrefix).storagePressure);
        const p = raw ? (JSON.parse(raw) as StoragePressure) : null;
        if (p && p.throttled > 0) sawPressure = p;
        return sawPressure !== null;
      },
      5_000,
      50,
    );
    await waitFor('backlog drained', drained, 60_000);

    for (const [device, events] of sent) expect((await deviceItems(rig, 'acme', device)).map(storedEvent)).toEqual(events);
    expect((await rig.storeQueue.getJobCounts('failed'))['failed']).toBe(0);
    expect(await metric(registry, 'ingest_store_throttled_requests_total')).toBeGreaterThan(0);
    expect(await metric(registry, 'ingest_store_hotspot_partition_seconds_total')).toBeGreaterThan(0);
    expect(sawPressure!.backlogMs).toBeGreaterThan(0);

    // Slowed down: after the burst the writers come back below the envelope and climb (AIMD), rather than
    // at full rate at once. The window right after the burst is well under the envelope.
    const windows = contiguousWindows(rig.proxy.stats().windows);
    const afterBurst = windows.filter((w) => w.second * 1000 >= burstStart + 1500 + 1000);
    console.log(`throttling burst: windows ${JSON.stringify(windows.map((w) => w.units))}; throttled requests ${rig.proxy.stats().totals.throttledRequests}`);
    expect(afterBurst.length).toBeGreaterThan(0);
    expect(afterBurst[0]!.units).toBeLessThan(ENVELOPE * 0.8);
    for (const w of windows) expect(w.units).toBeLessThanOrEqual(ENVELOPE * 1.05);
  });

  it('a table with less capacity than the envelope: writers settle below it and lose nothing', async () => {
    // The proxy grants 400 units/s while the writers were told 1,000.
    const capacity = 400;
    const limited = await (await import('../src/testing/capacity-proxy.js')).startCapacityProxy({ target: rig.dynalite.endpoint, tableWcu: capacity, partitionWcu: Infinity });
    const { createDynamoClient } = await import('../src/store/dynamo-client.js');
    const dynamo = createDynamoClient(rig.config, { endpoint: limited.endpoint });
    try {
      const registry = new Registry();
      worker = await startStoreWorker({ config: rig.config, redisUrl: rig.redis.url, dynamo, registry, log: createLogger('silent') });
      const { jobs, sent } = fleet(8, 300, 'small');
      await enqueueLikeEdge(rig, jobs);
      await waitFor('backlog drained', drained, 60_000);

      for (const [device, events] of sent) expect((await deviceItems(rig, 'acme', device)).map(storedEvent)).toEqual(events);
      expect((await rig.storeQueue.getJobCounts('failed'))['failed']).toBe(0);
      const stats = limited.stats();
      const throttled = await metric(registry, 'ingest_store_throttled_requests_total');
      console.log(
        `under-provisioned table: windows ${JSON.stringify(contiguousWindows(stats.windows).map((w) => w.units))}; ` +
          `${throttled} throttled of ${stats.totals.writeRequests} write requests`,
      );
      expect(throttled).toBeGreaterThan(0);
      // Slowing down (AIMD) keeps throttles a minority of requests instead of hammering the table.
      expect(throttled).toBeLessThan(stats.totals.writeRequests * 0.5);
    } finally {
      dynamo.destroy();
      await limited.stop();
    }
  });
});
