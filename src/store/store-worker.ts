// The store stage: a BullMQ worker on `store` that writes each job's events to DynamoDB (paced, idempotent),
// hands the job to `index`, keeps the shared depth/stored counters, and publishes storage pressure for the edge.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DelayedError, Queue, UnrecoverableError, WaitingError, Worker, type Job, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { RedisTokenBuckets } from '../admission/token-bucket.js';
import type { BridgeConfig } from '../config/schema.js';
import { ID_PATTERN } from '../contract/identity.js';
import { eventSchema } from '../contract/wire.js';
import { fullJitterBackoff } from '../delivery/backoff.js';
import { eventsJobId, INDEX_QUEUE, STORE_QUEUE, type EventsJob } from '../queue/jobs.js';
import { PRESSURE_TTL_MS, sharedKeys, type StoragePressure } from '../queue/keys.js';
import type { Logger } from '../telemetry/logger.js';
import { classifyStoreError } from './classify-error.js';
import { StoreJobLedger } from './job-ledger.js';
import { createStoreMetrics, type StoreMetrics } from './metrics.js';
import { WritePacer } from './pacer.js';
import { PartitionLanes, Semaphore } from './partition-lanes.js';
import { SharedRateFactor } from './rate-factor.js';
import { IdempotentWriter } from './writer.js';

/**
 * Transient failures (DynamoDB endpoint down, a Redis hiccup) are retried by moving the job to delayed with
 * full-jitter backoff, by the worker itself: this does not depend on the `attempts` the job was added with, and
 * throttling never gets here (the writer waits it out). A job gives up after this many transient failures (~45 min
 * of retries at the 60 s cap), stays in the failed set for an operator, and releases its share of the depth counter.
 */
export const STORE_JOB_MAX_RETRIES = 50;
const JOB_RETRY_BASE_MS = 1_000;
const JOB_RETRY_MAX_MS = 60_000;

/**
 * Options of the hand-off to `index` besides its deterministic jobId (which makes a repeated hand-off a no-op
 * while the job is kept). None on purpose: retention and retries are the search stage's, set on its worker.
 */
export const INDEX_JOB_OPTIONS: Readonly<JobsOptions> = Object.freeze({});

/**
 * Jobs fetched per write slot. Waiting jobs cost only memory and a lock renewal; having several per slot lets a
 * slot freed by one partition go to another partition's job instead of idling behind a busy partition.
 */
export const PREFETCH_PER_SLOT = 4;

/** How often storage pressure is published (the edge polls every admission.pressurePollMs, 250 ms by default). */
export const PRESSURE_PUBLISH_MS = 250;

const jobSchema = z.object({
  tenant: z.string().regex(ID_PATTERN),
  device: z.string().regex(ID_PATTERN),
  events: z.array(eventSchema).min(1),
  acceptedAt: z.number().int().nonnegative(),
});

export interface StoreWorkerOptions {
  config: BridgeConfig;
  redisUrl: string;
  dynamo: DynamoDBClient;
  registry: Registry;
  log: Logger;
  /** BullMQ lock tuning; tests shorten it so that a killed worker's job is re-delivered quickly. */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
}

export interface StoreWorker {
  close(): Promise<void>;
  /**
   * Applies the storage.* keys of a reloaded config to the running worker: the pacer's envelope and partition
   * limits (and the envelope storage pressure is computed against), the write slots and BullMQ's fetch width,
   * the call size and the backoff. Jobs in flight keep going; their next call is paced at the new rate.
   */
  reconfigure(config: BridgeConfig): void;
  /** Time the writers need to drain what is accepted and not yet stored, at the current pacing rate. */
  pacingBacklogMs(): number;
}

/** Pure: backlog estimate behind the storage_backpressure deferral. */
export function storageBacklogMs(depthEvents: number, unitsPerEvent: number, unitsPerSec: number): number {
  if (depthEvents <= 0) return 0;
  return Math.ceil(((depthEvents * unitsPerEvent) / Math.max(unitsPerSec, 1e-9)) * 1000);
}

type StoreResult = { written: number; duplicates: number };

export async function startStoreWorker(opts: StoreWorkerOptions): Promise<StoreWorker> {
  const { config, log } = opts;
  let storage = config.storage;
  const prefix = config.redis.keyPrefix;
  const keys = sharedKeys(prefix);
  const metrics = createStoreMetrics(opts.registry);
  const cmd = new Redis(opts.redisUrl);
  // BullMQ workers block on Redis; their connection must never give up on a command.
  const workerConn = new Redis(opts.redisUrl, { maxRetriesPerRequest: null });
  const ledger = new StoreJobLedger(cmd, prefix, keys);

  const rateFactor = new SharedRateFactor(cmd, `${prefix}:wcu:factor`);
  await rateFactor.refresh();
  metrics.rateFactor.set(rateFactor.current);
  const pacer = new WritePacer({
    buckets: new RedisTokenBuckets(cmd),
    keys,
    writeUnitsPerSec: storage.writeUnitsPerSec,
    partitionWriteUnitsPerSec: storage.partitionWriteUnitsPerSec,
    rateFactor: () => rateFactor.current,
  });
  const writer = new IdempotentWriter({
    client: opts.dynamo,
    table: config.dynamodb.table,
    pacer,
    rateFactor,
    batchWriteMaxItems: storage.batchWriteMaxItems,
    backoff: storage.backoff,
    metrics,
    log,
  });
  // storage.workerConcurrency is the number of jobs writing at once; BullMQ fetches PREFETCH_PER_SLOT times more.
  // One lane per partition: jobs are per device, so a second job of the same device could only share the
  // partition's rate with the first while holding a slot another device could use (and it keeps a device's
  // writes in seq order within a process).
  const slots = new Semaphore(storage.workerConcurrency);
  const lanes = new PartitionLanes(1);
  const indexQueue = new Queue<EventsJob>(INDEX_QUEUE, { connection: cmd, prefix });
  const shutdown = new AbortController();

  // Average write units per event, learnt from the jobs seen: converts the depth counter (events) into units.
  let unitsPerEvent = 1;
  let throttlesTotal = 0;
  let backlogMs = 0;

  const processor = async (job: Job<EventsJob>, token?: string, jobSignal?: AbortSignal): Promise<StoreResult | undefined> => {
    const parsed = jobSchema.safeParse(job.data);
    if (!parsed.success) {
      // A malformed job can never be stored; release its depth so that the edge is not held back by it.
      log.error({ jobId: job.id, issues: parsed.error.issues.slice(0, 3) }, 'store job has a malformed payload; giving up on it');
      await ledger.settle(job, Array.isArray(job.data?.events) ? job.data.events.length : 0, false);
      metrics.jobs.inc({ outcome: 'failed' });
      throw new UnrecoverableError('malformed store job');
    }
    const data = parsed.data;
    const prepared = IdempotentWriter.prepare(data);
    const signal = jobSignal ? AbortSignal.any([shutdown.signal, jobSignal]) : shutdown.signal;
    let lane = false;
    let slot = false;
    try {
      // Lane first, then slot: a job waiting for its partition never holds a slot another partition could use.
      await lanes.acquire(prepared.pk, signal);
      lane = true;
      await slots.acquire(signal);
      slot = true;
      const r = await writer.write(prepared, signal);
      slots.release();
      slot = false;
      unitsPerEvent = unitsPerEvent * 0.8 + (r.units / Math.max(1, r.events)) * 0.2;
      throttlesTotal += r.throttles;
      await indexQueue.add('events', data, { ...INDEX_JOB_OPTIONS, jobId: eventsJobId('index', data) });
      await ledger.settle(job, data.events.length, true);
      metrics.jobs.inc({ outcome: 'completed' });
      return { written: r.written, duplicates: r.duplicates };
    } catch (err) {
      return await onFailure(job, data, err, token);
    } finally {
      if (slot) slots.release();
      if (lane) lanes.release(prepared.pk);
    }
  };

  async function onFailure(job: Job<EventsJob>, data: EventsJob, err: unknown, token?: string): Promise<never> {
    if (shutdown.signal.aborted && token) {
      // Shutting down: hand the job back untouched (no attempt spent); whatever was written stays written.
      await job.moveToWait(token);
      metrics.jobs.inc({ outcome: 'interrupted' });
      throw new WaitingError();
    }
    const kind = classifyStoreError(err);
    const retries = kind === 'permanent' ? Infinity : await ledger.noteRetry(job).catch(() => 1);
    if (retries <= STORE_JOB_MAX_RETRIES && token) {
      const delayMs = Math.max(1, fullJitterBackoff(retries - 1, JOB_RETRY_BASE_MS, JOB_RETRY_MAX_MS));
      log.warn({ err, jobId: job.id, kind, retries, delayMs }, 'store job hit a transient error; retrying it later');
      await job.moveToDelayed(Date.now() + delayMs, token);
      metrics.jobs.inc({ outcome: 'retried' });
      throw new DelayedError();
    }
    log.error({ err, jobId: job.id, kind, retries }, 'store job failed for good; its events are not in DynamoDB');
    await ledger.settle(job, data.events.length, false).catch(() => undefined);
    metrics.jobs.inc({ outcome: 'failed' });
    throw new UnrecoverableError(`${(err as Error).name}: ${(err as Error).message}`);
  }

  const worker = new Worker<EventsJob>(STORE_QUEUE, processor, {
    connection: workerConn,
    prefix,
    concurrency: storage.workerConcurrency * PREFETCH_PER_SLOT,
    // A worker killed mid-job makes the job stall; it must come back rather than fail after one stall.
    maxStalledCount: 1000,
    ...(opts.lockDurationMs ? { lockDuration: opts.lockDurationMs } : {}),
    ...(opts.stalledIntervalMs ? { stalledInterval: opts.stalledIntervalMs } : {}),
    removeOnComplete: { age: 3600, count: 100_000 },
    removeOnFail: { age: 7 * 86_400 },
  });
  worker.on('error', (err) => log.error({ err }, 'store worker error'));

  const publisher = pressurePublisher({
    cmd,
    metrics,
    log,
    rateFactor,
    key: keys.storagePressure,
    depthKey: keys.depthEvents,
    envelope: () => storage.writeUnitsPerSec,
    sample: () => ({ unitsPerEvent, throttlesTotal }),
    onBacklog: (ms) => (backlogMs = ms),
  });
  await publisher.publish();
  const timer = setInterval(() => void publisher.publish(), PRESSURE_PUBLISH_MS);
  timer.unref();
  await worker.waitUntilReady();
  log.info({ queue: STORE_QUEUE, concurrency: storage.workerConcurrency, slots: slots.width, laneWidth: lanes.width, limits: pacer.limits }, 'store worker started');

  let closing: Promise<void> | undefined;
  return {
    pacingBacklogMs: () => backlogMs,
    reconfigure(next) {
      const s = next.storage;
      if (JSON.stringify(s) === JSON.stringify(storage)) return;
      pacer.setRates(s.writeUnitsPerSec, s.partitionWriteUnitsPerSec);
      writer.setLimits({ batchWriteMaxItems: s.batchWriteMaxItems, backoff: s.backoff });
      slots.resize(s.workerConcurrency);
      worker.concurrency = s.workerConcurrency * PREFETCH_PER_SLOT;
      storage = s;
      log.info({ concurrency: s.workerConcurrency, limits: pacer.limits, batchWriteMaxItems: s.batchWriteMaxItems, backoff: s.backoff }, 'store worker reconfigured');
    },
    close() {
      closing ??= (async () => {
        clearInterval(timer);
        shutdown.abort(new Error('store worker closing'));
        await worker.close();
        await indexQueue.close();
        await Promise.allSettled([cmd.quit(), workerConn.quit()]);
      })();
      return closing;
    },
  };
}

interface PressurePublisherOptions {
  cmd: Redis;
  metrics: StoreMetrics;
  log: Logger;
  rateFactor: SharedRateFactor;
  key: string;
  depthKey: string;
  /** The configured write envelope, read on every publish (it changes with a config reload). */
  envelope: () => number;
  sample: () => { unitsPerEvent: number; throttlesTotal: number };
  onBacklog: (ms: number) => void;
}

/** Publishes StoragePressure with a TTL: a dead worker's report expires instead of holding the edge back. */
function pressurePublisher(o: PressurePublisherOptions): { publish(): Promise<void> } {
  let lastThrottles = 0;
  let busy = false;
  let failures = 0;
  return {
    async publish() {
      if (busy) return;
      busy = true;
      try {
        const [depthRaw] = await Promise.all([o.cmd.get(o.depthKey), o.rateFactor.refresh()]);
        const { unitsPerEvent, throttlesTotal } = o.sample();
        const backlogMs = storageBacklogMs(Number(depthRaw ?? 0), unitsPerEvent, o.envelope() * o.rateFactor.current);
        const pressure: StoragePressure = { backlogMs, throttled: throttlesTotal - lastThrottles };
        lastThrottles = throttlesTotal;
        await o.cmd.set(o.key, JSON.stringify(pressure), 'PX', PRESSURE_TTL_MS);
        o.onBacklog(backlogMs);
        o.metrics.pacingBacklog.set(backlogMs / 1000);
        o.metrics.rateFactor.set(o.rateFactor.current);
        failures = 0;
      } catch (err) {
        // Say it once per outage, not four times a second.
        if (failures++ === 0) o.log.warn({ err }, 'could not publish storage pressure');
      } finally {
        busy = false;
      }
    },
  };
}
