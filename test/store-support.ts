// Shared fixtures of the store-stage tests and the storage-drain benchmark: real Redis, real dynalite behind the
// capacity proxy, store workers in this process or in separate Node processes, jobs enqueued as the edge does.
import { QueryCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config/load.js';
import type { BridgeConfig } from '../src/config/schema.js';
import type { DeviceEvent } from '../src/contract/wire.js';
import { eventsJobId, STORE_QUEUE, type EventsJob } from '../src/queue/jobs.js';
import { sharedKeys } from '../src/queue/keys.js';
import { startDynalite, type DynaliteHandle } from '../src/stack/dynalite-server.js';
import { startRedis, type RedisHandle } from '../src/stack/redis-server.js';
import { spawnTethered, type TetheredProcess } from '../src/stack/tether.js';
import { createDynamoClient } from '../src/store/dynamo-client.js';
import { fromAttributeValue, partitionKey, type Item } from '../src/store/item.js';
import { ensureEventsTable } from '../src/store/table.js';
import { startCapacityProxy, type CapacityProxy, type CapacityWindow } from '../src/testing/capacity-proxy.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const WORKER_SCRIPT = path.join(ROOT, 'src/store/store-worker-process.ts');

export interface StoreRig {
  redis: RedisHandle;
  dynalite: DynaliteHandle;
  proxy: CapacityProxy;
  /** Config pointing at the proxy, with the given overrides. */
  config: BridgeConfig;
  /** Overrides that reproduce `config` in a child process. */
  overrides: Record<string, unknown>;
  /** Client of the writers (through the proxy). */
  dynamo: DynamoDBClient;
  /** Client straight to dynalite, for checks that must not be metered. */
  direct: DynamoDBClient;
  cmd: Redis;
  storeQueue: Queue<EventsJob>;
  stop(): Promise<void>;
}

export interface RigOptions {
  tableWcu?: number;
  partitionWcu?: number;
  /** Config overlay (deep-merged over the defaults). */
  overrides?: Record<string, unknown>;
  /** dynalite in a child process (the benchmark keeps the proxy's process free for metering). */
  dynaliteInProcess?: boolean;
}

export async function startStoreRig(opts: RigOptions = {}): Promise<StoreRig> {
  const redis = await startRedis({ appendonly: false });
  const dynalite = await startDynalite({ inProcess: opts.dynaliteInProcess ?? true });
  const proxy = await startCapacityProxy({ target: dynalite.endpoint, tableWcu: opts.tableWcu ?? Infinity, partitionWcu: opts.partitionWcu ?? Infinity });
  const overrides = {
    log: { level: 'warn' },
    ...opts.overrides,
    redis: { url: redis.url, keyPrefix: 'ibt' },
    dynamodb: { endpoint: proxy.endpoint, table: 'events-test' },
  };
  const config = loadConfig({ overrides, env: {} });
  const dynamo = createDynamoClient(config);
  const direct = createDynamoClient(config, { endpoint: dynalite.endpoint });
  await ensureEventsTable(direct, config.dynamodb.table);
  const cmd = new Redis(redis.url);
  const storeQueue = new Queue<EventsJob>(STORE_QUEUE, { connection: { url: redis.url }, prefix: config.redis.keyPrefix });
  return {
    redis,
    dynalite,
    proxy,
    config,
    overrides,
    dynamo,
    direct,
    cmd,
    storeQueue,
    async stop() {
      await storeQueue.close();
      cmd.disconnect();
      dynamo.destroy();
      direct.destroy();
      await proxy.stop();
      await dynalite.stop();
      await redis.stop();
    },
  };
}

/** Events seq from..to of one device; `dataBytes` pads the data to make bigger items. */
export function makeEvents(from: number, to: number, dataBytes = 0, salt = ''): DeviceEvent[] {
  const out: DeviceEvent[] = [];
  for (let seq = from; seq <= to; seq++) {
    out.push({ seq, ts: 1764806400000 + seq, type: 'weight', data: { grams: seq * 10, salt, ...(dataBytes ? { pad: 'x'.repeat(dataBytes) } : {}) } });
  }
  return out;
}

/** Splits a device's range into jobs of `perJob` events. */
export function jobsFor(tenant: string, device: string, events: DeviceEvent[], perJob: number, acceptedAt = 1764806401000): EventsJob[] {
  const jobs: EventsJob[] = [];
  for (let i = 0; i < events.length; i += perJob) jobs.push({ tenant, device, events: events.slice(i, i + perJob), acceptedAt });
  return jobs;
}

/** What the edge does for an accepted prefix: one job with the deterministic id, and the depth counter. */
export async function enqueueLikeEdge(rig: StoreRig, jobs: EventsJob[], jobIdSuffix = ''): Promise<void> {
  const keys = sharedKeys(rig.config.redis.keyPrefix);
  for (let i = 0; i < jobs.length; i += 500) {
    const slice = jobs.slice(i, i + 500);
    await rig.storeQueue.addBulk(slice.map((job) => ({ name: 'events', data: job, opts: { jobId: eventsJobId('store', job) + jobIdSuffix } })));
    await rig.cmd.incrby(keys.depthEvents, slice.reduce((s, j) => s + j.events.length, 0));
  }
}

export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** True once the store queue has nothing waiting, delayed or active. */
export async function storeQueueIdle(rig: StoreRig): Promise<boolean> {
  const c = await rig.storeQueue.getJobCounts('waiting', 'delayed', 'active', 'prioritized');
  return Object.values(c).every((n) => n === 0);
}

/** Every stored item of one device, in seq order (read from dynalite directly, unmetered). */
export async function deviceItems(rig: StoreRig, tenant: string, device: string): Promise<Item[]> {
  const out: Item[] = [];
  let start: Item | undefined;
  do {
    const res = await rig.direct.send(
      new QueryCommand({
        TableName: rig.config.dynamodb.table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: partitionKey(tenant, device) } },
        ConsistentRead: true,
        ExclusiveStartKey: start,
      }),
    );
    out.push(...(res.Items ?? []));
    start = res.LastEvaluatedKey;
  } while (start);
  return out;
}

/** The contract's view of a stored item, for comparison with what was sent. */
export function storedEvent(item: Item): DeviceEvent {
  return {
    seq: Number(item['seq']!.N),
    ts: Number(item['ts']!.N),
    type: item['type']!.S!,
    data: fromAttributeValue(item['data']!) as Record<string, unknown>,
  };
}

/** Windows from the first to the last second with writes, with empty seconds filled in as zeros. */
export function contiguousWindows(windows: CapacityWindow[]): CapacityWindow[] {
  if (windows.length === 0) return [];
  const by = new Map(windows.map((w) => [w.second, w]));
  const out: CapacityWindow[] = [];
  for (let s = windows[0]!.second; s <= windows[windows.length - 1]!.second; s++) {
    out.push(by.get(s) ?? { second: s, units: 0, items: 0, partitions: {}, throttledRequests: 0, unprocessedItems: 0 });
  }
  return out;
}

export interface WorkerProcess {
  proc: TetheredProcess;
  ready: Promise<void>;
  /** Graceful stop (SIGTERM); resolves with the metric totals the process printed. */
  stop(): Promise<Record<string, number>>;
  /** SIGKILL: no cleanup at all, as in a crash. */
  kill(): Promise<void>;
}

/** A store worker in its own Node process (tsx loader in-process, so its pid is the worker's). */
export async function spawnStoreWorker(rig: StoreRig, env: Record<string, string> = {}, overrides: Record<string, unknown> = rig.overrides): Promise<WorkerProcess> {
  let onReady: () => void = () => {};
  let onClosed: (m: Record<string, number>) => void = () => {};
  const ready = new Promise<void>((r) => (onReady = r));
  const closed = new Promise<Record<string, number>>((r) => (onClosed = r));
  const proc = await spawnTethered(process.execPath, ['--import', 'tsx', WORKER_SCRIPT], {
    name: 'store-worker',
    cwd: ROOT,
    graceSeconds: 15,
    env: {
      ...process.env,
      STORE_WORKER_REDIS_URL: rig.redis.url,
      STORE_WORKER_OVERRIDES: JSON.stringify(overrides),
      ...env,
    },
    onLine: (line, stream) => {
      if (stream !== 'stdout' || !line.startsWith('{')) return;
      const msg = JSON.parse(line) as { event: string; metrics?: Record<string, number> };
      if (msg.event === 'ready') onReady();
      if (msg.event === 'closed') onClosed(msg.metrics ?? {});
    },
  });
  const readyOrExit = Promise.race([
    ready,
    proc.exited.then((info) => {
      throw new Error(`store worker exited before ready (${JSON.stringify(info)}):\n${proc.recentOutput()}`);
    }),
  ]);
  return {
    proc,
    ready: readyOrExit,
    async stop() {
      await proc.stop();
      return Promise.race([closed, new Promise<Record<string, number>>((r) => setTimeout(() => r({}), 1_000))]);
    },
    async kill() {
      process.kill(proc.pid, 'SIGKILL');
      await proc.exited;
    },
  };
}
