// The port between the indexer and the bulk service (one bulk request = one network call), and the
// indexer's instrumentation hooks. Kept apart so that the service and the metrics depend on these
// shapes only, not on the indexer.
import type { BreakerState } from '../delivery/circuit-breaker.js';
import type { ItemVerdict, RequestFailure } from './bulk-classify.js';

/** The outcome of one bulk request as the service adapter saw it. */
export type BulkAttempt =
  | { kind: 'answered'; items: ItemVerdict[] }
  | { kind: 'failed'; failure: RequestFailure; /** For the log only. */ error?: Record<string, unknown> };

/** The port of the next stage: sends one bulk body of `docs` documents. Never throws. */
export type SendBulk = (body: string, docs: number) => Promise<BulkAttempt>;

export interface BulkStart {
  docs: number;
  bytes: number;
  /** Bulks in flight including this one. */
  inFlight: number;
  limit: number;
}

export interface BulkEnd {
  docs: number;
  bytes: number;
  latencyMs: number;
  /** answered: a bulk response (items may still have failed); failed: no usable answer. */
  result: 'answered' | 'failed';
  throttledItems: number;
  requestThrottled: boolean;
  indexed: number;
  duplicates: number;
  retried: number;
  failed: number;
}

/** Instrumentation hooks (metrics, tests). All optional, all synchronous. */
export interface IndexerEvents {
  bulkStart?(b: BulkStart): void;
  bulkEnd?(b: BulkEnd): void;
  limitChange?(limit: number, inFlight: number): void;
  breakerChange?(to: BreakerState, from: BreakerState): void;
}
