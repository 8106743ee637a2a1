// Shared by the search-stage tests (test/index*.test.ts): real Redis, a real OpenSearch node, the real
// index queue. Nothing here fakes a service.
import { randomBytes } from 'node:crypto';
import { Client } from '@opensearch-project/opensearch';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { inject } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import type { BridgeConfig } from '../src/config/schema.js';
import type { DeviceEvent } from '../src/contract/wire.js';
import { startIndexWorker, type IndexWorker } from '../src/index/index-worker.js';
import type { BulkEnd, BulkStart, IndexerEvents } from '../src/index/bulk-port.js';
import { eventsJobId, INDEX_QUEUE, type EventsJob } from '../src/queue/jobs.js';
import { startOpenSearchNode, type OpenSearchNodeHandle, type OpenSearchNodeOptions } from '../src/stack/opensearch-node.js';
import { startRedis, type RedisHandle } from '../src/stack/redis-server.js';
import { createLogger } from '../src/telemetry/logger.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface Services {
  redisUrl: string;
  opensearchUrl: string;
  /** Present when this file started its own node (to stop/start it, or for special settings). */
  node?: OpenSearchNodeHandle;
  stop(): Promise<void>;
}

/**
 * Redis and an OpenSearch node for one test file. Uses the run's shared stack when test/global-setup.ts
 * provides it and no special node is asked for; otherwise starts its own (small heap: 2 cores here).
 */
export async function startServices(node?: OpenSearchNodeOptions): Promise<Services> {
  let shared: { redis: string; opensearch: string } | undefined;
  try {
    shared = inject('endpoints' as never) as { redis: string; opensearch: string } | undefined;
  } catch {
    shared = undefined;
  }
  if (shared && !node) return { redisUrl: shared.redis, opensearchUrl: shared.opensearch, stop: async () => {} };
  let redis: RedisHandle | undefined;
  let os: OpenSearchNodeHandle | undefined;
  try {
    [redis, os] = await Promise.all([
      shared ? undefined : startRedis({ appendonly: false }),
      startOpenSearchNode({ heapMb: 384, ...node }),
    ]);
  } catch (err) {
    await Promise.allSettled([redis?.stop(), os?.stop()]);
    throw err;
  }
  return {
    redisUrl: shared?.redis ?? redis!.url,
    opensearchUrl: os.url,
    node: os,
    stop: async () => {
      await Promise.allSettled([redis?.stop(), os!.stop()]);
    },
  };
}

/** A config isolated by its own key prefix and index; `opensearch`/`search` overrides are overlaid. */
export function indexTestConfig(s: Services, overrides: Record<string, unknown> = {}): BridgeConfig {
  const iso = `ix${randomBytes(4).toString('hex')}`;
  const o = overrides as { opensearch?: Record<string, unknown> };
  return loadConfig({
    env: {},
    overrides: {
      ...overrides,
      log: { level: process.env['TEST_LOG_LEVEL'] ?? 'warn' },
      redis: { url: s.redisUrl, keyPrefix: iso },
      opensearch: { ...o.opensearch, node: s.opensearchUrl, index: `events-${iso}` },
      shutdown: { graceMs: 3000 },
    },
  });
}

export function events(from: number, to: number, extra: (seq: number) => Record<string, unknown> = () => ({})): DeviceEvent[] {
  const out: DeviceEvent[] = [];
  for (let seq = from; seq <= to; seq++) out.push({ seq, ts: 1_764_806_400_000 + seq, type: 'weight', data: { grams: seq * 10, ...extra(seq) } });
  return out;
}

export function job(tenant: string, device: string, evs: DeviceEvent[], acceptedAt = Date.now()): EventsJob {
  return { tenant, device, events: evs, acceptedAt };
}

/** Records what the indexer did, for assertions on caps and the concurrency invariant. */
export class BulkRecorder implements IndexerEvents {
  starts: BulkStart[] = [];
  ends: BulkEnd[] = [];
  limits: number[] = [];
  breaker: string[] = [];
  bulkStart = (b: BulkStart) => void this.starts.push(b);
  bulkEnd = (b: BulkEnd) => void this.ends.push(b);
  limitChange = (limit: number) => {
    if (this.limits[this.limits.length - 1] !== limit) this.limits.push(limit);
  };
  breakerChange = (to: string) => void this.breaker.push(to);
  sum(k: 'indexed' | 'duplicates' | 'failed' | 'throttledItems' | 'retried'): number {
    return this.ends.reduce((s, e) => s + e[k], 0);
  }
}

export interface Harness {
  config: BridgeConfig;
  client: Client;
  redis: Redis;
  queue: Queue<EventsJob>;
  registry: Registry;
  recorder: BulkRecorder;
  worker: IndexWorker;
  /** Adds an index job the way the store stage does (deterministic id unless given). */
  add(j: EventsJob, jobId?: string): Promise<void>;
  /** Waits until `n` jobs completed; fails fast if one failed. */
  waitCompleted(n: number, timeoutMs?: number): Promise<void>;
  /** Refreshes the index and counts its documents. */
  count(): Promise<number>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  close(): Promise<void>;
}

export async function startHarness(s: Services, overrides: Record<string, unknown> = {}, opts: { startWorker?: boolean } = {}): Promise<Harness> {
  const config = indexTestConfig(s, overrides);
  const client = new Client({ node: s.opensearchUrl });
  const redis = new Redis(s.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue<EventsJob>(INDEX_QUEUE, { connection: redis, prefix: config.redis.keyPrefix });
  const registry = new Registry();
  const recorder = new BulkRecorder();
  const log = createLogger(config.log.level);
  const start = () => startIndexWorker({ config, redisUrl: s.redisUrl, client, registry, log, events: recorder });
  let worker: IndexWorker | null = opts.startWorker === false ? null : await start();
  const h: Harness = {
    config,
    client,
    redis,
    queue,
    registry,
    recorder,
    get worker() {
      if (!worker) throw new Error('worker not started');
      return worker;
    },
    async add(j, jobId) {
      await queue.add('events', j, { jobId: jobId ?? eventsJobId('index', j) });
    },
    async waitCompleted(n, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const c = await queue.getJobCounts('completed', 'failed');
        if (c.failed! > 0) throw new Error(`${c.failed} index job(s) failed`);
        if (c.completed! >= n) return;
        if (Date.now() > deadline) throw new Error(`only ${c.completed}/${n} jobs completed in ${timeoutMs} ms`);
        await sleep(50);
      }
    },
    async count() {
      await client.indices.refresh({ index: config.opensearch.index });
      return (await client.count({ index: config.opensearch.index })).body.count as number;
    },
    async metric(name, labels) {
      const m = await registry.getSingleMetric(name)?.get();
      const v = m?.values.find((x) => !labels || Object.entries(labels).every(([k, val]) => (x.labels as Record<string, unknown>)[k] === val));
      return v?.value ?? NaN;
    },
    async close() {
      await worker?.close();
      await queue.close();
      redis.disconnect();
      await client.close();
    },
  };
  if (!worker) {
    Object.defineProperty(h, 'start', { value: async () => (worker = await start()) });
  }
  return h;
}

/** Starts the worker of a harness made with `startWorker: false`. */
export async function startWorkerOf(h: Harness): Promise<IndexWorker> {
  return (h as Harness & { start(): Promise<IndexWorker> }).start();
}

/** Every document of the index, by _id. */
export async function allDocs(client: Client, index: string): Promise<Map<string, Record<string, unknown>>> {
  await client.indices.refresh({ index });
  const out = new Map<string, Record<string, unknown>>();
  let res = await client.search({ index, scroll: '30s', size: 1000, body: { query: { match_all: {} }, sort: ['_doc'] } });
  for (;;) {
    const hits = res.body.hits.hits as Array<{ _id: string; _source: Record<string, unknown> }>;
    if (hits.length === 0) break;
    for (const h of hits) out.set(h._id, h._source);
    res = await client.scroll({ scroll_id: res.body._scroll_id!, scroll: '30s' });
  }
  return out;
}
