// Exactly-once effect of the store stage against real Redis and real dynalite (behind the capacity proxy):
// a job processed twice, overlapping jobs, and a job re-delivered after its worker was SIGKILLed mid-batch.
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sharedKeys } from '../src/queue/keys.js';
import { createLogger } from '../src/telemetry/logger.js';
import { startStoreWorker, type StoreWorker } from '../src/store/store-worker.js';
import {
  deviceItems,
  enqueueLikeEdge,
  jobsFor,
  makeEvents,
  spawnStoreWorker,
  startStoreRig,
  storedEvent,
  storeQueueIdle,
  waitFor,
  type StoreRig,
} from './store-support.js';

const ENVELOPE = 200;
let rig: StoreRig;
let workers: StoreWorker[] = [];

// Short locks and stalled checks everywhere in this file: BullMQ runs the stalled check at most once per
// interval across all workers of a queue (a shared key), so one worker with the default 30 s would delay the
// re-delivery that the kill test waits for.
const LOCKS = { lockDurationMs: 1500, stalledIntervalMs: 500 };

async function worker(registry = new Registry()): Promise<{ w: StoreWorker; registry: Registry }> {
  const w = await startStoreWorker({ config: rig.config, redisUrl: rig.redis.url, dynamo: rig.dynamo, registry, log: createLogger('silent'), ...LOCKS });
  workers.push(w);
  return { w, registry };
}

async function metric(registry: Registry, name: string): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  return (m?.values ?? []).reduce((s, v) => s + v.value, 0);
}

async function counters(): Promise<{ depth: number; stored: number }> {
  const keys = sharedKeys(rig.config.redis.keyPrefix);
  const [depth, stored] = await rig.cmd.mget(keys.depthEvents, keys.storedEvents);
  return { depth: Number(depth ?? 0), stored: Number(stored ?? 0) };
}

beforeAll(async () => {
  rig = await startStoreRig({ overrides: { storage: { writeUnitsPerSec: ENVELOPE, workerConcurrency: 4 } } });
});
afterEach(async () => {
  await Promise.all(workers.map((w) => w.close()));
  workers = [];
  await rig.cmd.set(sharedKeys(rig.config.redis.keyPrefix).depthEvents, 0);
  await rig.cmd.set(sharedKeys(rig.config.redis.keyPrefix).storedEvents, 0);
});
afterAll(async () => {
  await rig?.stop();
});

describe('store stage: exactly once in effect', () => {
  it('a job processed twice leaves one item per event, with the content sent, and counts the duplicates', async () => {
    const { registry } = await worker();
    const sent = makeEvents(1, 120, 0, 'twice');
    const [job] = jobsFor('acme', 'twice', sent, 120);
    await enqueueLikeEdge(rig, [job!]);
    await waitFor('first run', () => storeQueueIdle(rig), 30_000);
    // The same job again (as after a re-delivery): a new job id, the same events.
    await enqueueLikeEdge(rig, [job!], '|again');
    await waitFor('second run', () => storeQueueIdle(rig), 30_000);

    const items = await deviceItems(rig, 'acme', 'twice');
    expect(items.map(storedEvent)).toEqual(sent);
    expect(items.every((i) => i['tenant']!.S === 'acme' && i['device']!.S === 'twice' && i['acceptedAt']!.N === String(job!.acceptedAt))).toBe(true);
    expect(await metric(registry, 'ingest_store_duplicates_suppressed_total')).toBe(120);
    expect(await metric(registry, 'ingest_store_items_written_total')).toBe(120);
    expect(await counters()).toEqual({ depth: 0, stored: 240 });
    // The hand-off to indexing happened once per range (deterministic index job id).
    const indexJobs = await rig.cmd.keys(`${rig.config.redis.keyPrefix}:index:index|acme|twice|*`);
    expect(indexJobs).toHaveLength(1);
  });

  it('overlapping jobs processed at the same time store each event once', async () => {
    await worker();
    const sent = makeEvents(1, 150, 0, 'overlap');
    const a = { tenant: 'acme', device: 'overlap', events: sent.slice(0, 100), acceptedAt: 1 };
    const b = { tenant: 'acme', device: 'overlap', events: sent.slice(49, 150), acceptedAt: 1 };
    await enqueueLikeEdge(rig, [a, b]);
    await waitFor('both jobs', () => storeQueueIdle(rig), 30_000);

    const items = await deviceItems(rig, 'acme', 'overlap');
    expect(items).toHaveLength(150);
    expect(items.map(storedEvent)).toEqual(sent);
    expect(await counters()).toEqual({ depth: 0, stored: 201 });
  });

  it('a job re-delivered after its worker was SIGKILLed mid-batch is finished by a fresh worker, exactly once', async () => {
    const sent = makeEvents(1, 600, 0, 'killed');
    const [job] = jobsFor('acme', 'killed', sent, 600);
    // The victim holds a short lock so that the job is re-delivered quickly after the kill.
    const victim = await spawnStoreWorker(rig, { STORE_WORKER_LOCK_MS: String(LOCKS.lockDurationMs) });
    await victim.ready;
    rig.proxy.resetStats();
    await enqueueLikeEdge(rig, [job!]);
    // At 200 units/s the job takes ~3 s: kill the worker part-way through its paced writes.
    await waitFor('some items written', () => rig.proxy.stats().totals.items >= 100, 20_000, 20);
    await victim.kill();
    const before = (await deviceItems(rig, 'acme', 'killed')).length;
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(600);
    expect(await counters()).toEqual({ depth: 600, stored: 0 });

    const { registry } = await worker();
    await waitFor('re-delivered job done', async () => (await counters()).depth === 0 && (await storeQueueIdle(rig)), 30_000);

    const items = await deviceItems(rig, 'acme', 'killed');
    expect(items.map(storedEvent)).toEqual(sent);
    expect(await metric(registry, 'ingest_store_duplicates_suppressed_total')).toBe(before);
    expect(await metric(registry, 'ingest_store_items_written_total')).toBe(600 - before);
    expect(await counters()).toEqual({ depth: 0, stored: 600 });
    const failed = await rig.storeQueue.getJobCounts('failed');
    expect(failed['failed']).toBe(0);
  });

  it('a graceful close hands in-flight jobs back without failing them; the next worker finishes exactly once', async () => {
    const { w } = await worker();
    const sent = makeEvents(1, 600, 0, 'handback');
    await enqueueLikeEdge(rig, jobsFor('acme', 'handback', sent, 100));
    // 600 one-unit events at 200 units/s: the published backlog says about 3 s.
    const keys = sharedKeys(rig.config.redis.keyPrefix);
    await waitFor('pressure published', async () => JSON.parse((await rig.cmd.get(keys.storagePressure)) ?? '{"backlogMs":0}').backlogMs > 0, 5_000, 50);
    const pressure = JSON.parse((await rig.cmd.get(keys.storagePressure))!) as { backlogMs: number; throttled: number };
    expect(pressure.backlogMs).toBeGreaterThan(1_000);
    expect(pressure.backlogMs).toBeLessThanOrEqual(3_000);
    expect(pressure.throttled).toBe(0);
    expect(w.pacingBacklogMs()).toBeGreaterThan(0);

    await waitFor('some items written', async () => (await deviceItems(rig, 'acme', 'handback')).length >= 100, 20_000, 50);
    const closeStarted = Date.now();
    await w.close();
    workers = workers.filter((x) => x !== w);
    // Close does not wait for the paced backlog: waits are interrupted and the jobs handed back.
    expect(Date.now() - closeStarted).toBeLessThan(2_000);
    expect((await rig.storeQueue.getJobCounts('failed'))['failed']).toBe(0);
    expect((await counters()).depth).toBeGreaterThan(0);

    await worker();
    await waitFor('handed-back jobs done', async () => (await counters()).depth === 0 && (await storeQueueIdle(rig)), 30_000);
    expect((await deviceItems(rig, 'acme', 'handback')).map(storedEvent)).toEqual(sent);
    expect(await counters()).toEqual({ depth: 0, stored: 600 });
    expect((await rig.storeQueue.getJobCounts('failed'))['failed']).toBe(0);
  });
});
