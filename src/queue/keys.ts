// Redis keys shared by the edge, the store workers and the indexers of every bridge instance.
export interface SharedKeys {
  /** Events accepted by the edge and not yet written to DynamoDB (INCRBY at enqueue, DECRBY when stored). */
  depthEvents: string;
  /** Total events written to DynamoDB (monotonic; the edge derives the drain rate from it). */
  storedEvents: string;
  /** JSON `{backlogMs, throttled}` written by store workers with a short TTL. */
  storagePressure: string;
  /** JSON `{lagMs, breaker}` written by indexers with a short TTL. */
  searchPressure: string;
  /** Hash field per device `{tenant}/{device}` → highest durably accepted seq. */
  watermark(tenant: string, device: string): string;
  /** Hash `{from, to, reason}`: the device's deferred range not yet accepted (same slot as the watermark). */
  outstanding(tenant: string, device: string): string;
  deviceBucket(tenant: string, device: string): string;
  tenantBucket(tenant: string): string;
  /** Shared write-unit bucket of the DynamoDB envelope. */
  writeEnvelope: string;
  /** Per-partition write-unit bucket. */
  partitionBucket(partitionKey: string): string;
}

export function sharedKeys(prefix: string): SharedKeys {
  return {
    depthEvents: `${prefix}:depth:events`,
    storedEvents: `${prefix}:stored:events`,
    storagePressure: `${prefix}:pressure:storage`,
    searchPressure: `${prefix}:pressure:search`,
    watermark: (t, d) => `${prefix}:wm:{${t}/${d}}`,
    outstanding: (t, d) => `${prefix}:wmout:{${t}/${d}}`,
    deviceBucket: (t, d) => `${prefix}:tb:dev:{${t}/${d}}`,
    tenantBucket: (t) => `${prefix}:tb:ten:{${t}}`,
    writeEnvelope: `${prefix}:wcu:table`,
    partitionBucket: (pk) => `${prefix}:wcu:pk:{${pk}}`,
  };
}

/** Pressure reports expire so that a dead worker cannot hold the edge in backpressure forever. */
export const PRESSURE_TTL_MS = 5000;

export interface StoragePressure {
  /** Time the writers need to drain what they hold at the configured envelope. */
  backlogMs: number;
  /** Throttled requests seen in the last report interval. */
  throttled: number;
}

export interface SearchPressure {
  /** Age of the oldest stored event not yet indexed. */
  lagMs: number;
  breaker: 'closed' | 'open' | 'half_open';
}
