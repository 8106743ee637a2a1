// Storage pacing and indexing limits change live: an operator edits the config file of a running bridge
// (src/main.ts as a child process, as npm start runs it) and the store rate, the adaptive concurrency
// bounds and the bulk size follow, read from /metrics. Assertions are on directions and bounds, not on
// tight timings: the machine running the tests may be small and busy.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { startBridgeProcess, writeConfig, type BridgeProcess } from '../src/testing/bridge-process.js';
import { TestDevice, events } from './support/mqtt-device.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const DEVICES = 4;
const BATCH = 100;

describe('live reload of the store and index workers', () => {
  let proc: BridgeProcess;
  let file: string;
  let http: string;
  const devices: TestDevice[] = [];
  const nextSeq = new Map<string, number>();
  let sent = 0;
  const e = inject('endpoints');
  const prefix = `rlw${randomBytes(3).toString('hex')}`;

  interface Knobs {
    writeUnitsPerSec: number;
    concurrency: { min: number; max: number; initial: number };
    maxDocs: number;
  }
  const doc = (k: Knobs) => ({
    mqtt: { port: 0 },
    http: { port: 0 },
    redis: { url: e.redis, keyPrefix: prefix },
    dynamodb: { endpoint: e.dynamodb, table: `events-${prefix}` },
    opensearch: {
      node: e.opensearch,
      index: `events-${prefix}`,
      bulk: { maxDocs: k.maxDocs },
      concurrency: k.concurrency,
      // No latency-driven cuts on a slow machine: the limit moves only because of the config here.
      latencyTargetMs: 60_000,
      lagBoundMs: 86_400_000,
    },
    // The edge takes the whole backlog at once: the store stage is what paces it.
    admission: {
      maxAcceptPerBatch: BATCH,
      device: { ratePerSec: 100_000, burst: 1_000_000 },
      tenants: { default: { ratePerSec: 1_000_000, burst: 10_000_000, maxInFlightBatches: 256 } },
      queue: { highWaterEvents: 1_000_000, maxEvents: 2_000_000 },
      storageBacklogMaxMs: 86_400_000,
    },
    storage: { writeUnitsPerSec: k.writeUnitsPerSec },
  });
  let knobs: Knobs = { writeUnitsPerSec: 40, concurrency: { min: 1, max: 4, initial: 4 }, maxDocs: 250 };

  const metrics = async () => (await fetch(`${http}/metrics`)).text();
  const value = (text: string, series: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? NaN : Number(line.slice(series.length + 1));
  };
  const metric = async (series: string) => value(await metrics(), series);
  const reconfigured = (msg: string) => proc.lines.filter((l) => l['msg'] === msg).length;

  /** Writes the new knobs and waits until the worker logged that it applied them. */
  async function edit(change: Partial<Knobs>, worker: 'store worker reconfigured' | 'index worker reconfigured') {
    const before = reconfigured(worker);
    knobs = { ...knobs, ...change };
    writeFileSync(file, stringify(doc(knobs)));
    await expect.poll(() => reconfigured(worker), { timeout: 5000, interval: 50 }).toBeGreaterThan(before);
  }

  /** Write units per second stored over `ms`, from ingest_store_write_units_total. */
  async function storeRate(ms: number): Promise<number> {
    const sample = async () => {
      const t0 = Date.now();
      const units = await metric('ingest_store_write_units_total');
      return { units, at: (t0 + Date.now()) / 2 };
    };
    const a = await sample();
    await sleep(ms);
    const b = await sample();
    return (b.units - a.units) / ((b.at - a.at) / 1000);
  }

  /** Every device sends `batches` batches of fresh events, devices in parallel; each batch must be taken whole. */
  async function sendBacklog(batches: number) {
    await Promise.all(
      devices.map(async (dev) => {
        for (let b = 0; b < batches; b++) {
          const from = nextSeq.get(dev.device) ?? 1;
          const ack = await dev.send(`${dev.device}-${from}`, events(from, from + BATCH - 1));
          expect(ack).toMatchObject({ status: 'accepted', accepted: BATCH });
          nextSeq.set(dev.device, from + BATCH);
          sent += BATCH;
        }
      }),
    );
  }

  beforeAll(async () => {
    file = writeConfig(doc(knobs));
    proc = startBridgeProcess(file);
    const ready = await proc.waitFor('bridge ready');
    http = `http://127.0.0.1:${ready['httpPort'] as number}`;
    for (let d = 0; d < DEVICES; d++) devices.push(await TestDevice.connect(ready['mqttPort'] as number, 'acme', `scale${d}`));
  });
  afterAll(async () => {
    await Promise.all(devices.map((d) => d.close()));
    proc?.child.kill('SIGTERM');
    await proc?.exited;
  });

  it('storage.writeUnitsPerSec: the store rate and the storage backlog estimate follow the file, down and up', async () => {
    expect(await metric('ingest_index_concurrency_limit')).toBe(4);
    // 3,200 events of ~100 bytes (1 write unit each): minutes of work at 40 units/s.
    await sendBacklog(8);
    await expect.poll(() => metric('ingest_store_write_units_total'), { timeout: 10_000 }).toBeGreaterThan(0);

    const slowA = await storeRate(3000);
    const backlogSlow = await metric('ingest_store_pacing_backlog_seconds');
    await edit({ writeUnitsPerSec: 400 }, 'store worker reconfigured');
    await sleep(600); // the pressure publisher runs every 250 ms
    const backlogFast = await metric('ingest_store_pacing_backlog_seconds');
    const fast = await storeRate(3000);
    await edit({ writeUnitsPerSec: 40 }, 'store worker reconfigured');
    await sleep(300);
    const slowB = await storeRate(3000);
    console.log(`store rate: ${slowA.toFixed(0)} → ${fast.toFixed(0)} → ${slowB.toFixed(0)} units/s; backlog estimate ${backlogSlow.toFixed(1)} → ${backlogFast.toFixed(1)} s`);

    // Within the envelope (plus a burst of 2 units and measurement slack) at 40 …
    for (const r of [slowA, slowB]) expect(r).toBeLessThanOrEqual(40 * 1.3);
    // … well above it at 400, and never above the new envelope.
    expect(fast).toBeGreaterThan(3 * Math.max(slowA, slowB, 20));
    expect(fast).toBeLessThanOrEqual(400 * 1.3);
    // The edge's storage_backpressure estimate divides by the new envelope too (10× the rate, a smaller depth).
    expect(backlogFast).toBeLessThan(backlogSlow / 3);
    // The storage pacing key itself is served by /config as reloaded.
    const cfg = (await (await fetch(`${http}/config`)).json()) as { storage: { writeUnitsPerSec: number } };
    expect(cfg.storage.writeUnitsPerSec).toBe(40);
  });

  it('opensearch.concurrency and opensearch.bulk.maxDocs: the limit is clamped into new bounds and new bulks follow the cap', async () => {
    await edit({ concurrency: { min: 1, max: 2, initial: 1 } }, 'index worker reconfigured');
    expect(await metric('ingest_index_concurrency_limit')).toBeLessThanOrEqual(2);

    const hist = async () => {
      const text = await metrics();
      return { le50: value(text, 'ingest_index_bulk_size_docs_bucket{le="50"}'), count: value(text, 'ingest_index_bulk_size_docs_count') };
    };
    const before = await hist();
    // Jobs of 100 events went out as bulks of more than 50 documents under maxDocs 250.
    expect(before.count - before.le50).toBeGreaterThan(0);

    // A floor above the current limit raises it; maxDocs 50 applies to every bulk packed from now on, and a fast
    // envelope lets the rest of the backlog through to the index.
    await edit({ concurrency: { min: 3, max: 3, initial: 3 }, maxDocs: 50, writeUnitsPerSec: 4000 }, 'index worker reconfigured');
    expect(await metric('ingest_index_concurrency_limit')).toBe(3);
    const atChange = await hist();
    await sendBacklog(2);
    await expect.poll(() => metric('ingest_index_docs_indexed_total'), { timeout: 40_000, interval: 250 }).toBe(sent);
    const after = await hist();
    console.log(`bulks after maxDocs 250 → 50: ${after.count - atChange.count} (before: ${before.count}, of which ${before.count - before.le50} above 50 docs)`);
    expect(after.count - atChange.count).toBeGreaterThan(0);
    expect(after.le50 - atChange.le50).toBe(after.count - atChange.count);
    expect(await metric('ingest_index_docs_failed_total')).toBe(0);
  });
});
