// The composition root of one bridge instance: edge → admission → queue → store → index.
// Every instance shares Redis (watermarks, buckets, queues), so instances scale side by side.
import { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Client as OpenSearchClient } from '@opensearch-project/opensearch';
import type { BridgeConfig } from './config/schema.js';
import { createLogger, type Logger } from './telemetry/logger.js';
import { sharedKeys } from './queue/keys.js';
import { STORE_QUEUE, eventsJobId, type EventsJob } from './queue/jobs.js';
import { RedisTokenBuckets } from './admission/token-bucket.js';
import { PressureMonitor } from './admission/pressure.js';
import { Watermarks } from './edge/watermarks.js';
import { EdgeMetrics } from './edge/edge-metrics.js';
import { BatchHandler } from './edge/batch-handler.js';
import { EdgeBroker } from './edge/broker.js';
import { DeviceCredentials } from './edge/auth.js';
import { AdminServer } from './http/admin-server.js';
import { redactConfig } from './config/redact.js';
import { STATUS_PAGE } from './http/status-page.js';
import { effectiveLimits } from './admission/limits.js';
import { isValidId } from './contract/identity.js';
import { createDynamoClient } from './store/dynamo-client.js';
import { ensureEventsTable } from './store/table.js';
import { startStoreWorker, type StoreWorker } from './store/store-worker.js';
import { ensureEventsIndex } from './index/index-setup.js';
import { INDEX_SETUP_WAIT_MS, startIndexWorker, type IndexWorker } from './index/index-worker.js';

export interface Endpoints {
  redis: string;
  dynamodb: string;
  opensearch: string;
}

export interface BridgeOptions {
  config: BridgeConfig;
  log?: Logger;
  /** Which stages this instance runs; all by default. Edge-only and worker-only instances share Redis. */
  roles?: { edge?: boolean; store?: boolean; index?: boolean };
}

export interface Bridge {
  readonly mqttPort: number;
  readonly httpPort: number;
  readonly endpoints: Endpoints;
  readonly registry: Registry;
  config(): BridgeConfig;
  /** Applies a new config to every live key (admission, pacing, indexing limits) at once. */
  reconfigure(next: BridgeConfig): void;
  ready(): Promise<{ ready: boolean; checks: Record<string, string> }>;
  /** Graceful: stop accepting, ack in-flight batches, finish in-flight jobs, close queues and broker. */
  stop(): Promise<void>;
}

function requireEndpoints(c: BridgeConfig): Endpoints {
  const missing = [
    c.redis.url === null && 'redis.url',
    c.dynamodb.endpoint === null && 'dynamodb.endpoint',
    c.opensearch.node === null && 'opensearch.node',
  ].filter(Boolean);
  if (missing.length > 0) throw new Error(`startBridge needs ${missing.join(', ')} (npm start starts a local stack for them)`);
  return { redis: c.redis.url!, dynamodb: c.dynamodb.endpoint!, opensearch: c.opensearch.node! };
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export async function startBridge(opts: BridgeOptions): Promise<Bridge> {
  let config = opts.config;
  const endpoints = requireEndpoints(config);
  const log = opts.log ?? createLogger(config.log.level);
  const roles = { edge: true, store: true, index: true, ...opts.roles };
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ingest_process_' });

  const redis = new Redis(endpoints.redis, { lazyConnect: false });
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
  const keys = sharedKeys(config.redis.keyPrefix);
  const buckets = new RedisTokenBuckets(redis);
  const watermarks = new Watermarks(redis, keys);
  const dynamo: DynamoDBClient = createDynamoClient(config);
  const os = new OpenSearchClient({ node: endpoints.opensearch });
  await ensureEventsTable(dynamo, config.dynamodb.table);
  // One short try: the bridge starts while OpenSearch is away (the index worker prepares the index before its
  // first bulk, retrying in the background; /readyz reports opensearch meanwhile).
  await withTimeout(ensureEventsIndex(os, config.opensearch.index, { refreshInterval: config.opensearch.refreshInterval.normal }), INDEX_SETUP_WAIT_MS).catch((err: unknown) =>
    log.warn({ err: (err as Error).message, node: endpoints.opensearch }, 'opensearch not ready: starting without it; the events index is prepared when it answers'),
  );

  const closers: (() => Promise<void>)[] = [];
  const pressure = new PressureMonitor(redis, keys, config.storage.writeUnitsPerSec, config.admission.pressurePollMs);
  await pressure.start();
  closers.push(async () => pressure.stop());

  let edge: EdgeBroker | null = null;
  let handler: BatchHandler | null = null;
  let edgeMetrics: EdgeMetrics | null = null;
  let storeQueue: Queue<EventsJob> | null = null;
  if (roles.edge) {
    storeQueue = new Queue<EventsJob>(STORE_QUEUE, { connection: { url: endpoints.redis }, prefix: config.redis.keyPrefix });
    const queue = storeQueue;
    const metrics = new EdgeMetrics(registry, () => pressure.current());
    edgeMetrics = metrics;
    const killBeforeAck = process.env['BRIDGE_TEST_KILL_BEFORE_ACK'];
    handler = new BatchHandler({
      config: () => config,
      watermarks,
      buckets,
      keys,
      pressure,
      metrics,
      enqueue: async (job) => {
        // The depth count and the job go to Redis together (one round trip on the hot path, not
        // two); if the add fails the count is taken back, and the ack is not sent.
        const counted = redis.incrby(keys.depthEvents, job.events.length);
        try {
          await queue.add('events', job, {
            // The reactive profile has no watermark, so devices resend ranges already queued: each
            // send is its own job there and storage suppresses the duplicates (a deterministic id
            // would make BullMQ ignore the add while the depth counter still counted it).
            jobId: config.admission.mode === 'contract' ? eventsJobId('store', job) : `${eventsJobId('store', job)}|${job.acceptedAt}|${Math.random().toString(36).slice(2, 8)}`,
            removeOnComplete: { count: 1000 },
            removeOnFail: { count: 10000 },
          });
        } catch (err) {
          await counted.catch(() => undefined);
          await redis.decrby(keys.depthEvents, job.events.length).catch(() => undefined);
          throw err;
        }
        await counted;
      },
      publishAck: (tenant, device, ack) => edge!.publishAck(tenant, device, ack),
      log,
      // Crash test hook: the process dies after the watermark advanced and before the ack left.
      beforeAck: killBeforeAck ? (ack) => void (ack.batchId === killBeforeAck && process.kill(process.pid, 'SIGKILL')) : undefined,
    });
    const credentials = config.mqtt.auth.enabled ? DeviceCredentials.fromFile(config.mqtt.auth.credentialsFile!) : null;
    edge = new EdgeBroker({ config: () => config, handler: () => handler!, metrics, credentials, log });
    await edge.listen(config.mqtt.host, config.mqtt.port);
    log.info({ port: edge.port, host: config.mqtt.host }, 'mqtt listening');
  }
  let storeWorker: StoreWorker | null = null;
  let indexWorker: IndexWorker | null = null;
  if (roles.store) {
    const w = await startStoreWorker({ config, redisUrl: endpoints.redis, dynamo, registry, log: log.child({ stage: 'store' }) });
    storeWorker = w;
    closers.push(() => w.close());
  }
  if (roles.index) {
    const w = await startIndexWorker({ config, redisUrl: endpoints.redis, client: os, registry, log: log.child({ stage: 'index' }) });
    indexWorker = w;
    closers.push(() => w.close());
  }

  async function ready(): Promise<{ ready: boolean; checks: Record<string, string> }> {
    const checks: Record<string, string> = {};
    const probe = async (name: string, p: () => Promise<unknown>) => {
      try {
        await withTimeout(p(), 2000);
        checks[name] = 'ok';
      } catch (err) {
        checks[name] = (err as Error).message;
      }
    };
    await Promise.all([
      probe('redis', () => redis.ping()),
      probe('dynamodb', () => dynamo.send(new DescribeTableCommand({ TableName: config.dynamodb.table }))),
      probe('opensearch', () => os.cluster.health({ timeout: '1s' })),
    ]);
    return { ready: Object.values(checks).every((v) => v === 'ok'), checks };
  }

  const badId = (...ids: string[]) => (ids.every(isValidId) ? null : { status: 400, body: { error: 'tenant and device must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' } });
  const admin = new AdminServer(registry);
  admin
    .get('/healthz', () => ({ status: 200, body: { status: 'ok' } }))
    .get('/readyz', async () => {
      const r = await ready();
      return { status: r.ready ? 200 : 503, body: r };
    })
    .get('/status.json', () => ({
      status: 200,
      body: {
        endpoints,
        mqtt: { port: edge?.port ?? null, connectedClients: edge?.connectedClients ?? 0 },
        inFlightBatches: handler?.inFlightBatches ?? 0,
        totals: edgeMetrics?.totals() ?? { received: 0, acceptedNew: 0, deferred: 0, duplicates: 0 },
        tenants: Object.entries(edgeMetrics?.tenants() ?? {}).map(([tenant, events]) => ({
          tenant,
          events,
          inFlightBatches: handler?.inFlightOf(tenant) ?? 0,
          recentReasons: handler?.recentReasons(tenant) ?? {},
        })),
        pressure: pressure.current(),
        config: { dynamodb: { table: config.dynamodb.table }, opensearch: { index: config.opensearch.index }, admission: { mode: config.admission.mode } },
      },
    }))
    .get('/', () => ({ status: 200, body: STATUS_PAGE, contentType: 'text/html; charset=utf-8' }))
    .get('/status', () => ({ status: 200, body: STATUS_PAGE, contentType: 'text/html; charset=utf-8' }))
    .get('/config', () => ({ status: 200, body: redactConfig(config) }))
    .get('/admin/tenants/:tenant', async (_req, [tenant]) => {
      const bad = badId(tenant!);
      if (bad) return bad;
      const limits = effectiveLimits(config.admission, tenant!);
      const [level] = await buckets.peek([{ key: keys.tenantBucket(tenant!), ratePerSec: limits.tenant.ratePerSec, burst: limits.tenant.burst }]);
      return {
        status: 200,
        body: {
          tenant,
          limits,
          bucket: { level: Math.floor(level!), burst: limits.tenant.burst, ratePerSec: limits.tenant.ratePerSec },
          inFlightBatches: handler?.inFlightOf(tenant!) ?? 0,
          recentReasons: handler?.recentReasons(tenant!) ?? {},
          pressure: pressure.current(),
        },
      };
    })
    .get('/admin/devices/:tenant/:device', async (_req, [tenant, device]) => {
      const bad = badId(tenant!, device!);
      if (bad) return bad;
      const limits = effectiveLimits(config.admission, tenant!);
      const [level] = await buckets.peek([{ key: keys.deviceBucket(tenant!, device!), ...limits.device }]);
      return {
        status: 200,
        body: { tenant, device, watermark: await watermarks.get(tenant!, device!), bucket: { level: Math.floor(level!), ...limits.device } },
      };
    });
  await admin.listen(config.http.host, config.http.port);
  log.info({ port: admin.port, host: config.http.host }, 'admin http listening');

  let stopping: Promise<void> | null = null;
  async function stop(): Promise<void> {
    stopping ??= (async () => {
      const deadline = Date.now() + config.shutdown.graceMs;
      edge?.stopAccepting();
      if (handler) await withTimeout(handler.drain(), Math.max(1, deadline - Date.now())).catch(() => log.warn('in-flight batches not acked before the grace period ended'));
      if (edge) await edge.close();
      for (const close of closers.reverse()) {
        await withTimeout(close(), Math.max(1, deadline - Date.now())).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'a stage did not close in time'));
      }
      if (storeQueue) await storeQueue.close();
      await admin.close();
      dynamo.destroy();
      await os.close();
      redis.disconnect();
      log.info('bridge stopped');
    })();
    return stopping;
  }

  return {
    mqttPort: edge?.port ?? 0,
    httpPort: admin.port,
    endpoints,
    registry,
    config: () => config,
    reconfigure(next: BridgeConfig) {
      config = next;
      edge?.reconfigure(next);
      pressure.reconfigure(next.storage.writeUnitsPerSec, next.admission.pressurePollMs);
      storeWorker?.reconfigure(next);
      indexWorker?.reconfigure(next);
      log.level = next.log.level;
    },
    ready,
    stop,
  };
}
