// Metrics of the search stage, registered on the Registry passed in (never the global one: two bridge
// instances may share a test process).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BreakerState } from '../delivery/circuit-breaker.js';
import type { IndexerEvents } from './bulk-port.js';

/** Gauge values of the breaker state (documented in the help text). */
export const BREAKER_GAUGE: Record<BreakerState, number> = { closed: 0, open: 1, half_open: 2 };

/** Default buckets plus the configured cap itself, so "observations above the cap" is readable exactly. */
function withCap(buckets: number[], cap: number): number[] {
  return [...new Set([...buckets.filter((b) => b < cap), cap])].sort((a, b) => a - b);
}

export interface IndexMetrics {
  lagSeconds: Gauge;
  backlogDocs: Gauge;
  bulkDocs: Histogram;
  bulkBytes: Histogram;
  bulkSeconds: Histogram<'result'>;
  throttled: Counter<'scope'>;
  indexed: Counter;
  duplicates: Counter;
  failed: Counter;
  retried: Counter;
  jobs: Counter;
  concurrencyLimit: Gauge;
  inFlight: Gauge;
  breakerState: Gauge;
  refreshWidened: Gauge;
  writeQueue: Gauge;
  writeRejected: Gauge;
  /** The indexer hooks that feed these metrics. */
  events: IndexerEvents;
}

export function createIndexMetrics(registry: Registry, caps: { maxDocs: number; maxBytes: number }): IndexMetrics {
  const registers = [registry];
  const m = {
    lagSeconds: new Gauge({ name: 'ingest_index_lag_seconds', help: 'Indexing lag: age of the oldest accepted event not yet indexed in OpenSearch, in seconds.', registers }),
    backlogDocs: new Gauge({ name: 'ingest_index_backlog_docs', help: 'Documents waiting to be indexed (held by this process plus an estimate of the waiting index jobs).', registers }),
    bulkDocs: new Histogram({ name: 'ingest_index_bulk_size_docs', help: 'Documents per bulk request (the top bucket is opensearch.bulk.maxDocs).', buckets: withCap([1, 10, 50, 100, 250, 500, 1000, 2500, 5000], caps.maxDocs), registers }),
    bulkBytes: new Histogram({ name: 'ingest_index_bulk_size_bytes', help: 'Bytes per bulk request body (the top bucket is opensearch.bulk.maxBytes).', buckets: withCap([1024, 16384, 65536, 262144, 1048576, 2097152, 5242880, 10485760], caps.maxBytes), registers }),
    bulkSeconds: new Histogram({ name: 'ingest_index_bulk_duration_seconds', help: 'Bulk request latency in seconds, by result (answered: a bulk response; failed: no usable answer).', labelNames: ['result'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers }),
    throttled: new Counter({ name: 'ingest_index_throttled_total', help: 'HTTP 429 answers from OpenSearch: scope=item (one document refused by a shard) or request (the whole bulk refused).', labelNames: ['scope'], registers }),
    indexed: new Counter({ name: 'ingest_index_docs_indexed_total', help: 'Documents created in OpenSearch.', registers }),
    duplicates: new Counter({ name: 'ingest_index_duplicates_suppressed_total', help: 'Documents that already existed (409 on create): redelivered events, indexed once.', registers }),
    failed: new Counter({ name: 'ingest_index_docs_failed_total', help: 'Documents OpenSearch will never accept as sent (mapping errors, too large): logged, not retried.', registers }),
    retried: new Counter({ name: 'ingest_index_docs_retried_total', help: 'Document sends retried after a per-item 429/5xx or a failed bulk request.', registers }),
    jobs: new Counter({ name: 'ingest_index_jobs_completed_total', help: 'Index jobs completed (every document indexed, suppressed or permanently failed).', registers }),
    concurrencyLimit: new Gauge({ name: 'ingest_index_concurrency_limit', help: 'Current adaptive limit of bulk requests in flight (AIMD between opensearch.concurrency.min and max).', registers }),
    inFlight: new Gauge({ name: 'ingest_index_bulks_in_flight', help: 'Bulk requests in flight now.', registers }),
    breakerState: new Gauge({ name: 'ingest_index_breaker_state', help: 'OpenSearch circuit breaker: 0 closed, 1 open, 2 half-open.', registers }),
    refreshWidened: new Gauge({ name: 'ingest_index_refresh_widened', help: '1 while index.refresh_interval is widened because of the indexing backlog, else 0.', registers }),
    writeQueue: new Gauge({ name: 'ingest_opensearch_write_queue_tasks', help: 'Tasks queued in the write thread pools of the OpenSearch nodes (polled from _nodes/stats).', registers }),
    writeRejected: new Gauge({ name: 'ingest_opensearch_write_rejected_tasks', help: 'Tasks rejected by the write thread pools since each OpenSearch node started (polled; resets with the node).', registers }),
  };
  const events: IndexerEvents = {
    bulkStart: (b) => {
      m.bulkDocs.observe(b.docs);
      m.bulkBytes.observe(b.bytes);
      m.inFlight.set(b.inFlight);
    },
    bulkEnd: (b) => {
      m.bulkSeconds.observe({ result: b.result }, b.latencyMs / 1000);
      if (b.throttledItems > 0) m.throttled.inc({ scope: 'item' }, b.throttledItems);
      if (b.requestThrottled) m.throttled.inc({ scope: 'request' });
      if (b.indexed > 0) m.indexed.inc(b.indexed);
      if (b.duplicates > 0) m.duplicates.inc(b.duplicates);
      if (b.failed > 0) m.failed.inc(b.failed);
      if (b.retried > 0) m.retried.inc(b.retried);
    },
    limitChange: (limit, inFlight) => {
      m.concurrencyLimit.set(limit);
      m.inFlight.set(inFlight);
    },
    breakerChange: (to) => m.breakerState.set(BREAKER_GAUGE[to]),
  };
  // Series exist from the start (a dashboard shows 0, not "no data").
  m.throttled.inc({ scope: 'item' }, 0);
  m.throttled.inc({ scope: 'request' }, 0);
  m.breakerState.set(0);
  m.refreshWidened.set(0);
  return { ...m, events };
}
