// The search stage as one component: a BullMQ worker on the `index` queue feeding the indexer, the
// pressure report for the edge, refresh widening, and shard-pressure polling.
//
// Jobs are never failed because OpenSearch is slow or down: a job's processor simply waits until every
// one of its documents is settled. Meanwhile BullMQ renews the job's lock, the worker fetches no more
// than search.workerConcurrency jobs, and the rest wait in Redis: indexing lags, nothing is lost.
// On shutdown, jobs not settled within shutdown.graceMs are handed back to the queue (moveToWait) for
// the next indexer; their documents that did get indexed come back as 409s, counted as duplicates.
import type { Client } from '@opensearch-project/opensearch';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { BridgeConfig } from '../config/schema.js';
import { INDEX_QUEUE, type EventsJob } from '../queue/jobs.js';
import { sharedKeys } from '../queue/keys.js';
import { bulkSender, errorSummary } from './bulk-service.js';
import { ensureEventsIndex } from './index-setup.js';
import { BREAKER_GAUGE, createIndexMetrics } from './index-metrics.js';
import type { IndexerEvents } from './bulk-port.js';
import { Indexer, IndexerClosedError, type JobOutcome } from './indexer.js';
import { RefreshWidener } from './refresh-widener.js';
import { EventsPerJob, lagMsOf, publishSearchPressure, readWaitingHead } from './search-pressure.js';
import { pollWritePools } from './shard-pressure.js';

/** How often the lag is measured and published (the edge re-reads pressure every admission.pressurePollMs). */
export const PRESSURE_PUBLISH_MS = 250;
/** How often the write thread pools of OpenSearch are polled. */
export const SHARD_POLL_MS = 5000;
/**
 * Longest time start-up waits for the first attempt to prepare the index: an OpenSearch that does not answer
 * (as opposed to one that refuses connections) must not hold the bridge's start-up; the attempt goes on.
 */
export const INDEX_SETUP_WAIT_MS = 3000;

/** A bulk request that has not answered in this long is given up on (and counts as a failure). */
const bulkTimeoutMs = (latencyTargetMs: number) => Math.max(30_000, 4 * latencyTargetMs);

export interface IndexWorkerOptions {
  config: BridgeConfig;
  redisUrl: string;
  client: Client;
  registry: Registry;
  log: Logger;
  /** Extra instrumentation hooks (tests, benchmarks), called after the metrics' own. */
  events?: IndexerEvents;
}

export interface IndexWorker {
  close(): Promise<void>;
  /**
   * Applies the opensearch.* and search.* keys of a reloaded config to the running worker: bulk caps, the
   * bounds of the adaptive limit (the current limit is clamped into them), the latency target, the breaker,
   * the retry backoff, refresh widening and the number of jobs fetched at once. Bulks in flight finish as sent.
   */
  reconfigure(config: BridgeConfig): void;
  /** The last measured indexing lag in ms. */
  lagMs(): number;
}

function isEventsJob(d: unknown): d is EventsJob {
  const j = d as Partial<EventsJob> | null;
  return !!j && typeof j.tenant === 'string' && typeof j.device === 'string' && typeof j.acceptedAt === 'number' && Array.isArray(j.events);
}

function chain(a: IndexerEvents, b?: IndexerEvents): IndexerEvents {
  if (!b) return a;
  return {
    bulkStart: (x) => (a.bulkStart?.(x), b.bulkStart?.(x)),
    bulkEnd: (x) => (a.bulkEnd?.(x), b.bulkEnd?.(x)),
    limitChange: (l, f) => (a.limitChange?.(l, f), b.limitChange?.(l, f)),
    breakerChange: (t, f) => (a.breakerChange?.(t, f), b.breakerChange?.(t, f)),
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export async function startIndexWorker(opts: IndexWorkerOptions): Promise<IndexWorker> {
  const { config, client, registry } = opts;
  // The config in force: start-up values below, `cfg` wherever a value is read later (it changes on reload).
  let cfg = config;
  const os = config.opensearch;
  const log = opts.log.child({ component: 'index' });
  const keys = sharedKeys(config.redis.keyPrefix);
  const metrics = createIndexMetrics(registry, os.bulk);

  const indexer = new Indexer({
    index: os.index,
    caps: os.bulk,
    send: bulkSender(client, () => bulkTimeoutMs(cfg.opensearch.latencyTargetMs)),
    concurrency: os.concurrency,
    latencyTargetMs: os.latencyTargetMs,
    breaker: os.breaker,
    retry: os.retry,
    jobCapacity: config.search.workerConcurrency,
    log,
    events: chain(metrics.events, opts.events),
  });
  metrics.concurrencyLimit.set(indexer.limiter.limit);

  const widener = new RefreshWidener({
    client,
    index: os.index,
    ...os.refreshInterval,
    log,
    onApplied: (mode) => metrics.refreshWidened.set(mode === 'wide' ? 1 : 0),
  });
  const perJob = new EventsPerJob();

  const connection = new Redis(opts.redisUrl, { maxRetriesPerRequest: null });
  const pub = new Redis(opts.redisUrl, { maxRetriesPerRequest: 1 });
  for (const c of [connection, pub]) c.on('error', (err) => log.debug({ err }, 'redis connection error'));

  const processor = async (job: Job<EventsJob, JobOutcome>, token?: string): Promise<JobOutcome> => {
    if (!isEventsJob(job.data)) throw new UnrecoverableError(`index job ${job.id} does not carry {tenant, device, events, acceptedAt}`);
    perJob.observe(job.data.events.length);
    try {
      const outcome = await indexer.submit(job.data);
      metrics.jobs.inc();
      return outcome;
    } catch (err) {
      if (err instanceof IndexerClosedError && token) {
        // Shutdown: back to the head of the queue for the next indexer, not failed, not retried here.
        await job.moveToWait(token);
        throw new WaitingError();
      }
      throw err;
    }
  };

  const worker = new Worker<EventsJob, JobOutcome>(INDEX_QUEUE, processor, {
    connection,
    prefix: config.redis.keyPrefix,
    concurrency: config.search.workerConcurrency,
    autorun: false,
    // A job is only stalled if its indexer died; the next one redoes it (create makes that a no-op for the
    // documents already indexed). Failing it after one stall, BullMQ's default, would lose it.
    maxStalledCount: 1000,
    removeOnComplete: { count: 1000 },
  });
  worker.on('error', (err) => log.warn({ err }, 'index worker error'));
  const waitKey = worker.keys.wait!;
  const jobKeyPrefix = worker.toKey('');

  let stopped = false;
  let lastLagMs = 0;
  const timers = new Set<NodeJS.Timeout>();
  const every = (ms: number, fn: () => Promise<void>) => {
    const loop = () => {
      if (stopped) return;
      const t = setTimeout(() => {
        timers.delete(t);
        fn().catch((err) => log.debug({ error: errorSummary(err) }, 'index background task failed')).finally(loop);
      }, ms);
      timers.add(t);
    };
    loop();
  };

  const publishPressure = async () => {
    const head = await readWaitingHead(pub, waitKey, jobKeyPrefix);
    perJob.observe(head.oldestEvents);
    const lag = lagMsOf(Date.now(), head.oldestAcceptedAt, indexer.oldestAcceptedAt());
    lastLagMs = lag;
    const backlog = indexer.heldDocs + Math.round(head.waitingJobs * perJob.value);
    metrics.lagSeconds.set(lag / 1000);
    metrics.backlogDocs.set(backlog);
    metrics.breakerState.set(BREAKER_GAUGE[indexer.breaker.state]);
    await publishSearchPressure(pub, keys.searchPressure, { lagMs: lag, breaker: indexer.breaker.state });
    if (indexer.breaker.state === 'closed') await widener.update(backlog);
  };

  const pollShards = async () => {
    if (indexer.breaker.state !== 'closed') return;
    const w = await pollWritePools(client);
    metrics.writeQueue.set(w.queue);
    metrics.writeRejected.set(w.rejected);
  };

  // The index must exist (with its strict mapping) before the first bulk: otherwise the first create
  // would auto-create it with a dynamic mapping. If OpenSearch is not there yet, keep trying in the
  // background; jobs wait in the queue and the lag report tells the edge.
  let running: Promise<void> | null = null;
  let firstAttemptDone: () => void = () => {};
  const firstAttempt = new Promise<void>((r) => (firstAttemptDone = r));
  const startWhenIndexReady = async () => {
    let warnedAt = -Infinity;
    for (let attempt = 0; !stopped; attempt++) {
      try {
        await ensureEventsIndex(client, os.index, { refreshInterval: cfg.opensearch.refreshInterval.normal });
        if (stopped) return;
        running = worker.run().catch((err) => log.error({ err }, 'index worker stopped'));
        log.info({ index: os.index, concurrency: cfg.search.workerConcurrency }, 'index worker started');
        return;
      } catch (err) {
        if (Date.now() - warnedAt >= 30_000) {
          warnedAt = Date.now();
          log.warn({ error: errorSummary(err), attempt }, 'cannot prepare the events index yet: index jobs wait; retrying in the background');
        }
        firstAttemptDone();
        await sleep(Math.min(cfg.opensearch.retry.maxMs, 1000 * 2 ** Math.min(attempt, 5)));
      } finally {
        firstAttemptDone();
      }
    }
  };
  void startWhenIndexReady();
  // Wait for the first attempt only, and not long: a bridge starting while OpenSearch is away should still start.
  await Promise.race([firstAttempt, sleep(INDEX_SETUP_WAIT_MS)]);
  every(PRESSURE_PUBLISH_MS, publishPressure);
  every(SHARD_POLL_MS, pollShards);

  let closing: Promise<void> | null = null;
  return {
    lagMs: () => lastLagMs,
    reconfigure(next) {
      const before = { opensearch: cfg.opensearch, search: cfg.search };
      cfg = next;
      const o = next.opensearch;
      if (JSON.stringify(before) === JSON.stringify({ opensearch: o, search: next.search })) return;
      indexer.reconfigure({ caps: o.bulk, concurrency: o.concurrency, latencyTargetMs: o.latencyTargetMs, breaker: o.breaker, retry: o.retry, jobCapacity: next.search.workerConcurrency });
      widener.reconfigure(o.refreshInterval);
      worker.concurrency = next.search.workerConcurrency;
      log.info({ bulk: o.bulk, concurrency: { ...o.concurrency, limit: indexer.limiter.limit }, latencyTargetMs: o.latencyTargetMs, jobs: next.search.workerConcurrency }, 'index worker reconfigured');
    },
    close: () =>
      (closing ??= (async () => {
        stopped = true;
        for (const t of timers) clearTimeout(t);
        timers.clear();
        void indexer.drain();
        const closed = worker.close();
        const inTime = await Promise.race([closed.then(() => true), sleep(cfg.shutdown.graceMs).then(() => false)]);
        if (!inTime) {
          log.warn({ heldJobs: indexer.heldJobs, heldDocs: indexer.heldDocs }, 'shutdown grace over: handing unfinished index jobs back to the queue');
          indexer.abort();
          await closed;
        }
        await running;
        await Promise.allSettled([connection.quit(), pub.quit()]);
      })()),
  };
}
