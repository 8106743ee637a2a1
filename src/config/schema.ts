// The one schema of the bridge's configuration. config/default.yaml holds every key with its
// default; an operator's file is overlaid on it and the merged result is validated here.
// Every field carries its documentation (unit, range) so that docs/config-reference.md is
// generated from this file and cannot drift (see src/config/reference.ts).
import { z } from 'zod';

const port = (doc: string) => z.number().int().min(0).max(65535).describe(`${doc} Range 0–65535 (0 picks a free port).`);
const posInt = (doc: string, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(1).max(max).describe(doc);
const nonNegInt = (doc: string, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(0).max(max).describe(doc);
const ratio = (doc: string) => z.number().min(0).max(1).describe(doc);
const endpoint = (doc: string) => z.string().min(1).nullable().describe(doc);
const duration = (doc: string) => z.string().regex(/^(-1|\d+(ms|s|m))$/, 'must look like 500ms, 1s, 30s, 1m or -1').describe(doc);

const bucketSchema = z
  .strictObject({
    ratePerSec: z.number().positive().max(1e7).describe('Sustained rate in events per second. Range > 0.'),
    burst: posInt('Bucket size in events: how many events may be accepted at once after a quiet period. Must be ≥ ratePerSec.'),
  })
  .describe('A token bucket held in Redis, shared by every bridge instance.');

const tenantOverrideSchema = z
  .strictObject({
    ratePerSec: z.number().positive().max(1e7).optional().describe('Sustained rate of the whole tenant in events per second.'),
    burst: posInt('Tenant bucket size in events. Must be ≥ ratePerSec.').optional(),
    maxInFlightBatches: posInt('Batches of this tenant being admitted at once, across the instance.', 100_000).optional(),
    device: z
      .strictObject({
        ratePerSec: z.number().positive().max(1e7).optional().describe('Per-device rate for devices of this tenant.'),
        burst: posInt('Per-device bucket size for devices of this tenant.').optional(),
      })
      .optional()
      .describe('Per-device bucket override for this tenant.'),
  })
  .describe('Limits of one tenant; keys left out come from admission.tenants.default.');

const tenantDefaultSchema = z
  .strictObject({
    ratePerSec: z.number().positive().max(1e7).describe('Sustained rate of a tenant in events per second.'),
    burst: posInt('Tenant bucket size in events. Must be ≥ ratePerSec.'),
    maxInFlightBatches: posInt('Batches of one tenant being admitted at once, per instance.', 100_000),
  })
  .describe('Limits of every tenant not named under admission.tenants.');

export const configSchema = z
  .strictObject({
    mqtt: z.strictObject({
      host: z.string().min(1).describe('Address the MQTT listener binds to.'),
      port: port('MQTT 3.1.1 listener port.'),
      connect: z
        .strictObject({
          ratePerSec: z.number().positive().max(1e6).describe('CONNECTs admitted per second, sustained. Excess gets CONNACK 3 (server unavailable).'),
          burst: posInt('CONNECTs admitted at once after a quiet period. Must be ≥ ratePerSec.'),
        })
        .describe('Connect-storm admission: a token bucket in front of authentication.'),
      auth: z
        .strictObject({
          enabled: z.boolean().describe('Require device credentials and enforce per-device topic ACLs.'),
          credentialsFile: z.string().min(1).nullable().describe('YAML file of hashed device secrets (see docs/contract.md). Required when enabled.'),
        })
        .describe('Device authentication and ACL.'),
    }),
    http: z.strictObject({
      host: z.string().min(1).describe('Address the admin HTTP server binds to.'),
      port: port('Admin HTTP port: /healthz, /readyz, /metrics, /status.'),
    }),
    log: z.strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).describe('pino log level.'),
    }),
    redis: z.strictObject({
      url: endpoint('Redis URL. null: start a local redis-server (append-only persistence on).'),
      keyPrefix: z.string().min(1).max(32).regex(/^[A-Za-z0-9_.-]+$/).describe('Prefix of every Redis key the bridge writes (watermarks, buckets, queues).'),
    }),
    dynamodb: z.strictObject({
      endpoint: endpoint('DynamoDB endpoint URL. null: start a local DynamoDB-compatible store (dynalite).'),
      region: z.string().min(1).describe('AWS region for the DynamoDB client.'),
      table: z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/, 'must be 3–255 characters of A-Z a-z 0-9 _ . -').describe('Events table name.'),
    }),
    opensearch: z.strictObject({
      node: endpoint('OpenSearch URL. null: start a local single OpenSearch node (Java 17 + Maven).'),
      index: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,254}$/, 'must be lowercase, 1–255 characters').describe('Events index (or alias) name.'),
      bulk: z.strictObject({
        maxDocs: posInt('Most documents in one bulk request.', 100_000),
        maxBytes: posInt('Most bytes in one bulk request body.', 100 * 1024 * 1024),
      }),
      concurrency: z.strictObject({
        min: posInt('Least bulk requests in flight (the floor of the adaptive limit).', 256),
        max: posInt('Most bulk requests in flight (the ceiling of the adaptive limit).', 256),
        initial: posInt('Bulk requests in flight at start.', 256),
      }),
      latencyTargetMs: posInt('A bulk slower than this counts as pressure: the adaptive limit decreases.', 600_000),
      lagBoundMs: posInt('Indexing lag (age of the oldest stored event not yet indexed) beyond which the edge defers with search_backpressure.', 86_400_000),
      refreshInterval: z.strictObject({
        normal: duration('index.refresh_interval in normal operation.'),
        wide: duration('index.refresh_interval while the indexing backlog is high.'),
        widenAtBacklog: posInt('Backlog in documents at which the refresh interval is widened (restored below half of it).'),
      }),
      breaker: z.strictObject({
        failureThreshold: posInt('Consecutive failed bulk requests that open the circuit.', 1000),
        openMs: posInt('Time the circuit stays open before a probe request.', 3_600_000),
      }),
      retry: z.strictObject({
        baseMs: posInt('First backoff of a retried bulk item, in ms (full jitter, doubling).', 60_000),
        maxMs: posInt('Longest backoff, in ms.', 600_000),
      }),
    }),
    limits: z.strictObject({
      maxEventsPerBatch: posInt('Most events in one batch; more is rejected with too_many_events.', 100_000),
      maxEventBytes: posInt('Most bytes of one event\'s serialized data; more is rejected with event_too_large.', 400 * 1024),
      maxPayloadBytes: posInt('Most bytes of one batch payload; more is rejected with payload_too_large.', 256 * 1024 * 1024),
    }),
    admission: z.strictObject({
      mode: z
        .enum(['contract', 'all_or_nothing'])
        .describe('contract: partial acceptance, watermark, retryAfterMs from live capacity. all_or_nothing: a reactive-throttling profile kept for comparison (a batch is taken whole or refused whole with a fixed retry time, no watermark resume).'),
      maxAcceptPerBatch: posInt('Most new events accepted from one batch (the per-batch work cap); the rest is deferred with batch_cap.', 100_000),
      maxInFlightBatches: posInt('Batches being admitted at once, per instance; past it batches are deferred with overloaded.', 100_000),
      device: bucketSchema.describe('Per-device token bucket (every device; a tenant may override it).'),
      tenants: z
        .record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'must be a tenant id or default'), tenantOverrideSchema)
        .describe('Per-tenant limits; the key default applies to every tenant not named.'),
      queue: z.strictObject({
        highWaterEvents: posInt('Queued events (accepted, not yet stored) from which only a shrinking share of each batch is accepted.'),
        maxEvents: posInt('Queued events at which nothing more is accepted (queue_saturated). Must be > highWaterEvents.'),
      }),
      storageBacklogMaxMs: posInt('Storage pacing backlog (time the writers need to drain what they hold at the envelope) beyond which the edge defers with storage_backpressure.', 86_400_000),
      retryAfter: z.strictObject({
        minMs: nonNegInt('Least retryAfterMs sent with a deferral caused by capacity.', 3_600_000),
        maxMs: posInt('Most retryAfterMs sent.', 3_600_000),
        spread: ratio('Spread factor s: retryAfterMs = base × (1 + s × u), u uniform in [0,1), so that devices deferred together come back spread over s × base.'),
        fixedMs: nonNegInt('retryAfterMs sent by the all_or_nothing profile, whatever the capacity.', 3_600_000),
      }),
      pressurePollMs: posInt('How often the edge re-reads queue depth and downstream pressure from Redis.', 60_000),
    }),
    storage: z.strictObject({
      writeUnitsPerSec: posInt('The DynamoDB write envelope in write units per second (1 unit per KB of item, as DynamoDB counts), shared by every worker process.'),
      partitionWriteUnitsPerSec: posInt('Write units per second one partition key may take (DynamoDB caps a partition at 1,000 WCU/s).', 1_000_000),
      workerConcurrency: posInt('Store jobs processed at once per bridge process.', 1024),
      batchWriteMaxItems: posInt('Items per BatchWriteItem call (DynamoDB allows at most 25).', 25),
      backoff: z.strictObject({
        baseMs: posInt('First backoff after a throttle or UnprocessedItems, in ms (full jitter, doubling).', 60_000),
        maxMs: posInt('Longest backoff, in ms.', 600_000),
      }),
    }),
    search: z.strictObject({
      workerConcurrency: posInt('Index jobs fetched at once per bridge process (bulk requests are bounded by opensearch.concurrency).', 1024),
    }),
    shutdown: z.strictObject({
      graceMs: posInt('Longest time a SIGTERM shutdown waits for in-flight work before it exits anyway.', 600_000),
    }),
    stack: z.strictObject({
      dataDir: z.string().min(1).describe('Folder of the local stack started by npm start (Redis append-only file, dynalite data).'),
      opensearchHeapMb: posInt('Heap of the local OpenSearch node, in MiB.', 32_768),
    }),
  })
  .superRefine((c, ctx) => {
    const err = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    if (c.mqtt.connect.burst < c.mqtt.connect.ratePerSec) err(['mqtt', 'connect', 'burst'], 'must be ≥ mqtt.connect.ratePerSec');
    if (c.mqtt.auth.enabled && c.mqtt.auth.credentialsFile === null) err(['mqtt', 'auth', 'credentialsFile'], 'is required when mqtt.auth.enabled is true');
    if (c.admission.device.burst < c.admission.device.ratePerSec) err(['admission', 'device', 'burst'], 'must be ≥ admission.device.ratePerSec');
    const def = c.admission.tenants['default'];
    if (!def) {
      err(['admission', 'tenants', 'default'], 'is required: it applies to every tenant not named');
    } else {
      const parsed = tenantDefaultSchema.safeParse(def);
      if (!parsed.success) {
        for (const i of parsed.error.issues) err(['admission', 'tenants', 'default', ...(i.path as (string | number)[])], i.message);
      }
      for (const [name, t] of Object.entries(c.admission.tenants)) {
        const rate = t.ratePerSec ?? def.ratePerSec ?? 0;
        const burst = t.burst ?? def.burst ?? 0;
        if (burst < rate) err(['admission', 'tenants', name, 'burst'], `must be ≥ admission.tenants.${name}.ratePerSec`);
        if (t.device) {
          const dr = t.device.ratePerSec ?? c.admission.device.ratePerSec;
          const db = t.device.burst ?? c.admission.device.burst;
          if (db < dr) err(['admission', 'tenants', name, 'device', 'burst'], `must be ≥ admission.tenants.${name}.device.ratePerSec`);
        }
      }
    }
    if (c.admission.queue.maxEvents <= c.admission.queue.highWaterEvents) err(['admission', 'queue', 'maxEvents'], 'must be > admission.queue.highWaterEvents');
    if (c.admission.retryAfter.maxMs < c.admission.retryAfter.minMs) err(['admission', 'retryAfter', 'maxMs'], 'must be ≥ admission.retryAfter.minMs');
    if (c.admission.maxAcceptPerBatch > c.limits.maxEventsPerBatch) err(['admission', 'maxAcceptPerBatch'], 'must be ≤ limits.maxEventsPerBatch');
    if (c.limits.maxEventBytes > c.limits.maxPayloadBytes) err(['limits', 'maxEventBytes'], 'must be ≤ limits.maxPayloadBytes');
    const oc = c.opensearch.concurrency;
    if (oc.max < oc.min) err(['opensearch', 'concurrency', 'max'], 'must be ≥ opensearch.concurrency.min');
    if (oc.initial < oc.min || oc.initial > oc.max) err(['opensearch', 'concurrency', 'initial'], 'must lie between opensearch.concurrency.min and max');
    if (c.opensearch.retry.maxMs < c.opensearch.retry.baseMs) err(['opensearch', 'retry', 'maxMs'], 'must be ≥ opensearch.retry.baseMs');
    if (c.storage.backoff.maxMs < c.storage.backoff.baseMs) err(['storage', 'backoff', 'maxMs'], 'must be ≥ storage.backoff.baseMs');
    if (c.storage.batchWriteMaxItems > 25) err(['storage', 'batchWriteMaxItems'], 'must be ≤ 25 (DynamoDB BatchWriteItem limit)');
  });

export type BridgeConfig = z.infer<typeof configSchema>;
export type TenantDefaults = z.infer<typeof tenantDefaultSchema>;

/** Keys whose change needs a restart (listeners, endpoints); everything else reloads live. */
export const RESTART_KEYS = [
  'mqtt.host',
  'mqtt.port',
  'mqtt.auth',
  'http.host',
  'http.port',
  'redis',
  'dynamodb',
  'opensearch.node',
  'opensearch.index',
  'stack',
] as const;
