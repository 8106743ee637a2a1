// Metrics of the store stage, registered on the Registry the caller passes (never the global one: two bridge
// instances may share a test process).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface StoreMetrics {
  itemsWritten: Counter;
  writeUnits: Counter;
  throttledRequests: Counter<'kind'>;
  hotspotPartitionSeconds: Counter;
  duplicatesSuppressed: Counter;
  batchWriteDuration: Histogram;
  pacingWait: Counter;
  pacingBacklog: Gauge;
  rateFactor: Gauge;
  jobs: Counter<'outcome'>;
}

export function createStoreMetrics(registry: Registry): StoreMetrics {
  const registers = [registry];
  return {
    itemsWritten: new Counter({ name: 'ingest_store_items_written_total', help: 'Items written to DynamoDB (BatchWriteItem puts that were processed).', registers }),
    writeUnits: new Counter({ name: 'ingest_store_write_units_total', help: 'Write units consumed by processed puts (1 per KB of item, as DynamoDB counts).', registers }),
    throttledRequests: new Counter({
      name: 'ingest_store_throttled_requests_total',
      help: 'BatchWriteItem requests throttled by DynamoDB: kind=exception (whole request refused) or unprocessed (some items returned in UnprocessedItems).',
      labelNames: ['kind'],
      registers,
    }),
    hotspotPartitionSeconds: new Counter({
      name: 'ingest_store_hotspot_partition_seconds_total',
      help: 'Hotspot incidence: distinct (partition key, second) pairs in which a write to that partition was throttled.',
      registers,
    }),
    duplicatesSuppressed: new Counter({
      name: 'ingest_store_duplicates_suppressed_total',
      help: 'Events of a store job already present in DynamoDB (a re-delivered or overlapping job), not written again.',
      registers,
    }),
    batchWriteDuration: new Histogram({
      name: 'ingest_store_batch_write_duration_seconds',
      help: 'Latency of one BatchWriteItem call, throttled or not.',
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    pacingWait: new Counter({ name: 'ingest_store_pacing_wait_seconds_total', help: 'Time writers spent waiting for write-envelope tokens.', registers }),
    pacingBacklog: new Gauge({
      name: 'ingest_store_pacing_backlog_seconds',
      help: 'Time the writers need to drain the events accepted and not yet stored, at the current pacing rate.',
      registers,
    }),
    rateFactor: new Gauge({ name: 'ingest_store_rate_factor_ratio', help: 'Share of the write envelope in use (below 1 after throttling, recovering linearly).', registers }),
    jobs: new Counter({
      name: 'ingest_store_jobs_total',
      help: 'Store jobs by outcome: completed, retried (transient error, delayed with backoff), failed (given up), interrupted (handed back on shutdown).',
      labelNames: ['outcome'],
      registers,
    }),
  };
}

/**
 * Counts distinct (partition, second) pairs with a throttle. Remembers only the last few seconds: a pair from an
 * older second cannot recur, because time only moves forward.
 */
export class HotspotTracker {
  private seen = new Set<string>();
  private second = -1;

  /** Returns true when (pk, second of nowMs) is new. */
  note(pk: string, nowMs: number): boolean {
    const s = Math.floor(nowMs / 1000);
    if (s > this.second) {
      // Keep the previous second: a clock read just before the boundary may arrive after a newer one.
      const keep = new Set<string>();
      for (const k of this.seen) if (Number(k.slice(0, k.indexOf('|'))) >= s - 1) keep.add(k);
      this.seen = keep;
      this.second = s;
    }
    const key = `${s}|${pk}`;
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    return true;
  }
}
