// Admission decisions: pure functions, no I/O. The edge gathers the inputs (in-flight counts,
// queue depth, downstream pressure, token grants from Redis) and these functions say how much of a
// batch is accepted, why the rest is deferred, and the live estimate of when capacity returns.
import type { DeferReason } from '../contract/wire.js';

export interface AdmissionInputs {
  /** Events of the batch above the device's watermark. */
  newEvents: number;
  maxAcceptPerBatch: number;
  inFlight: {
    /** Batches being admitted on this instance, this one included. */
    global: number;
    globalMax: number;
    tenant: number;
    tenantMax: number;
    /** Mean time one admission takes, to estimate when a slot frees. */
    meanBatchMs: number;
  };
  queue: {
    /** Events accepted and not yet stored. */
    depth: number;
    highWater: number;
    max: number;
    /** Measured drain rate of the queue into storage, events per second (> 0). */
    drainPerSec: number;
  };
  downstream: {
    storageBacklogMs: number;
    storageMaxMs: number;
    searchLagMs: number;
    searchBoundMs: number;
  };
}

/** How many events may be offered to the token buckets, and what bound it. */
export interface Cap {
  limit: number;
  /** The layer that bound `limit` below `newEvents`; absent when nothing did. */
  reason?: DeferReason;
  /** Live estimate, in ms, of when that layer has capacity again. */
  baseRetryMs: number;
}

/**
 * Every layer except the token buckets, cheapest and most severe first. A layer that refuses the
 * whole batch short-circuits; the queue's high-water zone and the per-batch cap shrink the limit.
 */
export function capBeforeBuckets(i: AdmissionInputs): Cap {
  const n = i.newEvents;
  if (n === 0) return { limit: 0, baseRetryMs: 0 };

  // In-flight caps protect this instance's event loop and Redis connection from a connect storm.
  const overGlobal = i.inFlight.global - i.inFlight.globalMax;
  const overTenant = i.inFlight.tenant - i.inFlight.tenantMax;
  if (overGlobal > 0 || overTenant > 0) {
    const excess = Math.max(overGlobal, overTenant);
    return { limit: 0, reason: 'overloaded', baseRetryMs: Math.ceil(excess * Math.max(1, i.inFlight.meanBatchMs)) };
  }

  // Downstream pressure: the source of truth first, then search.
  const d = i.downstream;
  if (d.storageBacklogMs > d.storageMaxMs) {
    return { limit: 0, reason: 'storage_backpressure', baseRetryMs: Math.ceil(d.storageBacklogMs - d.storageMaxMs) };
  }
  if (d.searchLagMs > d.searchBoundMs) {
    return { limit: 0, reason: 'search_backpressure', baseRetryMs: Math.ceil(d.searchLagMs - d.searchBoundMs) };
  }

  // Queue depth: above high-water a shrinking share of each batch, at max nothing. The retry
  // estimate is the time the measured drain needs to bring the queue back to its high-water.
  const q = i.queue;
  const drainMs = (events: number) => Math.ceil((Math.max(0, events) / Math.max(q.drainPerSec, 1e-3)) * 1000);
  let limit = n;
  let cap: Cap = { limit, baseRetryMs: 0 };
  if (q.depth >= q.max) {
    return { limit: 0, reason: 'queue_saturated', baseRetryMs: drainMs(q.depth - q.highWater) };
  }
  if (q.depth > q.highWater) {
    const share = (q.max - q.depth) / (q.max - q.highWater);
    limit = Math.min(n, Math.floor(n * share));
    if (limit < n) cap = { limit, reason: 'queue_saturated', baseRetryMs: drainMs(q.depth + limit - q.highWater) };
  }

  // The per-batch work cap: the rest can come right back (retryAfterMs 0 is allowed by the contract).
  if (i.maxAcceptPerBatch < cap.limit) cap = { limit: i.maxAcceptPerBatch, reason: 'batch_cap', baseRetryMs: 0 };
  return cap;
}

export interface BucketGrant {
  granted: number;
  /** Which bucket bound the grant, when it did. */
  binding: 'device' | 'tenant' | null;
  /** Refill time of the binding bucket for the deferred part. */
  waitMs: number;
}

export interface Decision {
  accept: number;
  reason?: DeferReason;
  baseRetryMs: number;
}

/** Combines the cap with the token grant: the layer that bound last is the one reported. */
export function finalize(cap: Cap, grant: BucketGrant): Decision {
  if (grant.granted < cap.limit && grant.binding !== null) {
    return {
      accept: grant.granted,
      reason: grant.binding === 'device' ? 'device_rate_limited' : 'tenant_rate_limited',
      baseRetryMs: grant.waitMs,
    };
  }
  return cap.reason === undefined
    ? { accept: grant.granted, baseRetryMs: 0 }
    : { accept: grant.granted, reason: cap.reason, baseRetryMs: cap.baseRetryMs };
}
