// Paces DynamoDB writes to the configured envelope across every worker process.
// Two Redis token buckets are taken in one atomic step: the table envelope and the item's partition.
import type { BucketSpec, RedisTokenBuckets } from '../admission/token-bucket.js';
import type { SharedKeys } from '../queue/keys.js';

/**
 * Envelope burst, in seconds of refill. A token bucket lets through at most rate × 1 s + burst in any 1-second
 * window, so the burst is what a window can exceed the envelope by. 20 ms keeps a window within 2 % of the
 * envelope and leaves the rest of the 5 % budget to the spread of request latency between take and arrival.
 */
export const ENVELOPE_BURST_SECONDS = 0.02;
/**
 * Partition burst as a share of the partition limit. The partition bucket refills at limit − burst so that no
 * 1-second window exceeds the limit itself: a hot key gets at most its partition's share, never more.
 */
export const PARTITION_BURST_SHARE = 0.05;

export interface PacerLimits {
  envelope: { ratePerSec: number; burst: number };
  partition: { ratePerSec: number; burst: number };
  /**
   * Most write units one BatchWriteItem should carry. Half the envelope burst: a waiter woken a little late still
   * finds its tokens without the bucket having overflowed (tokens over the burst are lost), so the envelope stays
   * fully used with many waiters.
   */
  maxCallUnits: number;
}

/** Pure: bucket shapes and call size from the config. */
export function pacerLimits(writeUnitsPerSec: number, partitionWriteUnitsPerSec: number): PacerLimits {
  const envBurst = Math.max(2, Math.ceil(writeUnitsPerSec * ENVELOPE_BURST_SECONDS));
  const partBurst = Math.max(1, Math.min(Math.ceil(partitionWriteUnitsPerSec * PARTITION_BURST_SHARE), partitionWriteUnitsPerSec - 1));
  const partRate = Math.max(1, partitionWriteUnitsPerSec - partBurst);
  return {
    envelope: { ratePerSec: writeUnitsPerSec, burst: envBurst },
    partition: { ratePerSec: partRate, burst: partBurst },
    maxCallUnits: Math.max(1, Math.min(Math.floor(envBurst / 2), partBurst)),
  };
}

export interface WritePacerOptions {
  buckets: RedisTokenBuckets;
  keys: Pick<SharedKeys, 'writeEnvelope' | 'partitionBucket'>;
  writeUnitsPerSec: number;
  partitionWriteUnitsPerSec: number;
  /** Share of the envelope currently usable (1 = all; lowered after throttles). */
  rateFactor: () => number;
  /** Injectable for tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface AcquireResult {
  /** Time spent waiting for tokens. */
  waitedMs: number;
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class WritePacer {
  private current: PacerLimits;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(private readonly opts: WritePacerOptions) {
    this.current = pacerLimits(opts.writeUnitsPerSec, opts.partitionWriteUnitsPerSec);
    this.sleep = opts.sleep ?? abortableSleep;
  }

  get limits(): PacerLimits {
    return this.current;
  }

  /**
   * New envelope and partition limits (a config reload). The buckets live in Redis and are given their rate
   * and burst on every take, so the next take of every waiter already uses them: no bucket is reset, tokens
   * above a smaller burst are dropped at the next refill.
   */
  setRates(writeUnitsPerSec: number, partitionWriteUnitsPerSec: number): void {
    this.current = pacerLimits(writeUnitsPerSec, partitionWriteUnitsPerSec);
  }

  private specs(pk: string): BucketSpec[] {
    const f = this.opts.rateFactor();
    const { envelope, partition } = this.current;
    return [
      { key: this.opts.keys.writeEnvelope, ratePerSec: envelope.ratePerSec * f, burst: envelope.burst },
      { key: this.opts.keys.partitionBucket(pk), ratePerSec: partition.ratePerSec * f, burst: partition.burst },
    ];
  }

  /**
   * Waits until `units` write units may be spent on partition `pk`, then spends them. Takes are all-or-nothing
   * so that tokens are never held while waiting (held tokens would be spent later, in a window that already had
   * its share). An item larger than a bucket is paid in bucket-sized instalments. Sleeps for the `waitMs` the
   * take returns: never polls in a loop.
   */
  async acquire(pk: string, units: number, signal?: AbortSignal): Promise<AcquireResult> {
    const started = Date.now();
    let need = units;
    while (need > 0) {
      signal?.throwIfAborted();
      // Read on every instalment: after setRates an ask larger than the new burst could never be granted whole.
      const ask = Math.min(need, this.current.envelope.burst, this.current.partition.burst);
      const r = await this.opts.buckets.take(this.specs(pk), ask, true);
      if (r.granted === ask) {
        need -= ask;
        continue;
      }
      await this.sleep(Math.max(1, r.waitMs), signal);
    }
    return { waitedMs: Date.now() - started };
  }
}
