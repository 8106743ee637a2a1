// Pacing across processes: two store workers in separate Node processes drain one backlog through the capacity
// proxy; every full 1-second window stays within 5 % of the envelope, the run averages close to it, and no
// partition exceeds its limit. The proxy only meters here (no limits), so what it sees is what the pacer sent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedKeys } from '../src/queue/keys.js';
import type { EventsJob } from '../src/queue/jobs.js';
import {
  contiguousWindows,
  deviceItems,
  enqueueLikeEdge,
  jobsFor,
  makeEvents,
  spawnStoreWorker,
  startStoreRig,
  storeQueueIdle,
  waitFor,
  type StoreRig,
  type WorkerProcess,
} from './store-support.js';

const ENVELOPE = 1000;
const PARTITION = 200;

let rig: StoreRig;
let workers: WorkerProcess[] = [];

beforeAll(async () => {
  rig = await startStoreRig({ overrides: { storage: { writeUnitsPerSec: ENVELOPE, partitionWriteUnitsPerSec: PARTITION, workerConcurrency: 8 } } });
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await rig?.stop();
});

/** 20 devices of 250 events (every fifth with ~2.5 KB events: 3 write units each) and one hot device of 1,000. */
function backlog(): { jobs: EventsJob[]; events: number; units: number; devices: Array<[string, number]> } {
  const perDevice: EventsJob[][] = [];
  const devices: Array<[string, number]> = [];
  let units = 0;
  for (let d = 0; d < 20; d++) {
    const big = d % 5 === 0;
    perDevice.push(jobsFor('acme', `dev-${d}`, makeEvents(1, 250, big ? 2500 : 0), 50));
    devices.push([`dev-${d}`, 250]);
    units += 250 * (big ? 3 : 1);
  }
  perDevice.push(jobsFor('acme', 'hot', makeEvents(1, 1000), 50));
  devices.push(['hot', 1000]);
  units += 1000;
  // Spread each device's jobs evenly over the backlog, as a fleet's batches arrive: the hot device keeps
  // several jobs in flight at once and is held to its partition's share while the others use the rest.
  const jobs = perDevice
    .flatMap((js) => js.map((job, i) => ({ job, at: (i + 0.5) / js.length })))
    .sort((a, b) => a.at - b.at)
    .map((x) => x.job);
  return { jobs, events: 20 * 250 + 1000, units, devices };
}

describe('store pacing across two worker processes', () => {
  it('keeps every full 1-second window within 5 % of the envelope and each partition within its limit', async () => {
    workers = await Promise.all([spawnStoreWorker(rig), spawnStoreWorker(rig)]);
    await Promise.all(workers.map((w) => w.ready));
    const { jobs, events, units, devices } = backlog();
    rig.proxy.resetStats();
    const started = Date.now();
    await enqueueLikeEdge(rig, jobs);
    await waitFor('backlog drained', async () => (await rig.cmd.get(sharedKeys(rig.config.redis.keyPrefix).depthEvents)) === '0' && (await storeQueueIdle(rig)), 60_000, 50);
    const elapsedS = (Date.now() - started) / 1000;
    const metrics = await Promise.all(workers.map((w) => w.stop()));
    workers = [];

    const stats = rig.proxy.stats();
    expect(stats.totals.units).toBe(units);
    expect(stats.totals.throttledRequests + stats.totals.unprocessedItems).toBe(0);
    const windows = contiguousWindows(stats.windows);
    const full = windows.slice(1, -1);
    const perWindow = full.map((w) => w.units);
    const maxPartition = Math.max(...full.flatMap((w) => Object.values(w.partitions)));
    const mean = perWindow.reduce((s, u) => s + u, 0) / perWindow.length;
    console.log(
      `pacing: ${units} units in ${elapsedS.toFixed(2)} s (minimum ${(units / ENVELOPE).toFixed(2)} s); full windows ${JSON.stringify(perWindow)}; ` +
        `mean ${mean.toFixed(0)}/s; busiest partition-second ${maxPartition}; workers wrote ${metrics.map((m) => m['ingest_store_items_written_total']).join(' + ')} items`,
    );

    expect(full.length).toBeGreaterThanOrEqual(5);
    // The bound the pacer guarantees, whatever the machine's load: no full window above the envelope + 5 %.
    for (const u of perWindow) expect(u).toBeLessThanOrEqual(ENVELOPE * 1.05);
    // How close the run gets to the envelope is a speed figure (bench/storage-drain.ts measures it; ~0.97 of the
    // envelope on an idle machine). Here only a gross under-use fails, so that a busy CI machine cannot.
    expect(mean).toBeGreaterThanOrEqual(ENVELOPE * 0.5);
    for (const w of windows) for (const u of Object.values(w.partitions)) expect(u).toBeLessThanOrEqual(PARTITION);
    // Both processes took part.
    for (const m of metrics) expect(m['ingest_store_items_written_total']).toBeGreaterThan(0);

    for (const [device, n] of devices) expect((await deviceItems(rig, 'acme', device)).length).toBe(n);
    expect(stats.totals.items).toBe(events);
  });
});
