import { describe, expect, it } from 'vitest';
import { capBeforeBuckets, finalize, type AdmissionInputs } from './decide.js';

function inputs(over: Partial<{ [K in keyof AdmissionInputs]: Partial<AdmissionInputs[K]> | AdmissionInputs[K] }> = {}): AdmissionInputs {
  const base: AdmissionInputs = {
    newEvents: 100,
    maxAcceptPerBatch: 200,
    inFlight: { global: 1, globalMax: 10, tenant: 1, tenantMax: 5, meanBatchMs: 4 },
    queue: { depth: 0, highWater: 1000, max: 2000, drainPerSec: 500 },
    downstream: { storageBacklogMs: 0, storageMaxMs: 30_000, searchLagMs: 0, searchBoundMs: 60_000 },
  };
  return {
    newEvents: (over.newEvents as number | undefined) ?? base.newEvents,
    maxAcceptPerBatch: (over.maxAcceptPerBatch as number | undefined) ?? base.maxAcceptPerBatch,
    inFlight: { ...base.inFlight, ...(over.inFlight as object) },
    queue: { ...base.queue, ...(over.queue as object) },
    downstream: { ...base.downstream, ...(over.downstream as object) },
  };
}

describe('capBeforeBuckets', () => {
  it.each([
    ['nothing binds', inputs(), { limit: 100, reason: undefined, baseRetryMs: 0 }],
    ['no new events', inputs({ newEvents: 0 }), { limit: 0, reason: undefined, baseRetryMs: 0 }],
    ['per-batch cap, retry at once', inputs({ maxAcceptPerBatch: 90 }), { limit: 90, reason: 'batch_cap', baseRetryMs: 0 }],
    ['global in-flight cap', inputs({ inFlight: { global: 13, globalMax: 10 } }), { limit: 0, reason: 'overloaded', baseRetryMs: 12 }],
    ['tenant in-flight cap', inputs({ inFlight: { tenant: 7, tenantMax: 5 } }), { limit: 0, reason: 'overloaded', baseRetryMs: 8 }],
    ['storage backlog past its bound', inputs({ downstream: { storageBacklogMs: 45_000 } }), { limit: 0, reason: 'storage_backpressure', baseRetryMs: 15_000 }],
    ['search lag past its bound', inputs({ downstream: { searchLagMs: 70_000 } }), { limit: 0, reason: 'search_backpressure', baseRetryMs: 10_000 }],
    // depth 1500 of [1000, 2000]: half the batch; retry = (1500 + 50 - 1000) / 500 s
    ['queue above high-water: a shrinking share', inputs({ queue: { depth: 1500 } }), { limit: 50, reason: 'queue_saturated', baseRetryMs: 1100 }],
    ['queue at max: nothing', inputs({ queue: { depth: 2000 } }), { limit: 0, reason: 'queue_saturated', baseRetryMs: 2000 }],
    ['queue below high-water: everything', inputs({ queue: { depth: 999 } }), { limit: 100, reason: undefined, baseRetryMs: 0 }],
    ['storage outranks search', inputs({ downstream: { storageBacklogMs: 31_000, searchLagMs: 99_000 } }), { limit: 0, reason: 'storage_backpressure', baseRetryMs: 1000 }],
  ])('%s', (_name, i, want) => {
    const got = capBeforeBuckets(i);
    expect({ limit: got.limit, reason: got.reason, baseRetryMs: got.baseRetryMs }).toEqual(want);
  });
});

describe('finalize', () => {
  it.each([
    ['full grant keeps the cap reason', { limit: 90, reason: 'batch_cap' as const, baseRetryMs: 0 }, { granted: 90, binding: null, waitMs: 0 }, { accept: 90, reason: 'batch_cap', baseRetryMs: 0 }],
    ['device bucket binds below the cap', { limit: 90, reason: 'batch_cap' as const, baseRetryMs: 0 }, { granted: 40, binding: 'device' as const, waitMs: 2500 }, { accept: 40, reason: 'device_rate_limited', baseRetryMs: 2500 }],
    ['tenant bucket binds', { limit: 100, baseRetryMs: 0 }, { granted: 0, binding: 'tenant' as const, waitMs: 800 }, { accept: 0, reason: 'tenant_rate_limited', baseRetryMs: 800 }],
    ['everything granted', { limit: 100, baseRetryMs: 0 }, { granted: 100, binding: null, waitMs: 0 }, { accept: 100, baseRetryMs: 0 }],
  ])('%s', (_name, cap, grant, want) => {
    expect(finalize(cap, grant)).toEqual(want);
  });
});
