// Per-job bookkeeping of the store stage in Redis: the shared depth/stored counters move once per job instance
// however many times it runs, and transient retries are counted outside BullMQ's attempts (which the edge sets).
import type { Redis } from 'ioredis';
import type { SharedKeys } from '../queue/keys.js';

/** Markers outlive any re-delivery of the same job: a stall is detected within a lock duration or two. */
const MARKER_TTL_MS = 3_600_000;

// KEYS: done marker, depth, stored, retries. ARGV: n, marker ttl, mode (1 = stored, 0 = given up: depth only).
// One script, so that a crash cannot leave the marker set without the counters moved (or the reverse).
const SETTLE_SCRIPT = `
if redis.call('SET', KEYS[1], ARGV[3], 'NX', 'PX', ARGV[2]) then
  redis.call('DECRBY', KEYS[2], ARGV[1])
  if ARGV[3] == '1' then redis.call('INCRBY', KEYS[3], ARGV[1]) end
  redis.call('DEL', KEYS[4])
  return 1
end
return 0
`;
type SettleCommand = (marker: string, depth: string, stored: string, retries: string, n: number, ttl: number, mode: 0 | 1) => Promise<number>;

/** What identifies one job instance: a re-added job (same id, new timestamp) is a new instance. */
export interface JobInstance {
  id?: string;
  timestamp: number;
}

export class StoreJobLedger {
  private readonly settleCmd: SettleCommand;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly keys: Pick<SharedKeys, 'depthEvents' | 'storedEvents'>,
  ) {
    if (!('ibStoreSettle' in redis)) redis.defineCommand('ibStoreSettle', { lua: SETTLE_SCRIPT, numberOfKeys: 4 });
    this.settleCmd = (redis as unknown as { ibStoreSettle: SettleCommand }).ibStoreSettle.bind(redis);
  }

  private key(kind: 'done' | 'retries', job: JobInstance): string {
    // The job timestamp tells a re-delivery (same instance: counted once) from the edge adding the same range
    // again after the first job was removed (a new instance, with its own INCRBY at the edge).
    return `${this.prefix}:store:${kind}:${job.id}:${job.timestamp}`;
  }

  /**
   * Moves the shared counters for a finished job: `stored` → DECRBY depth and INCRBY stored; given up → DECRBY
   * depth only (so a lost job cannot hold the edge in backpressure). Returns false if this instance was settled.
   */
  async settle(job: JobInstance, events: number, stored: boolean): Promise<boolean> {
    const r = await this.settleCmd(this.key('done', job), this.keys.depthEvents, this.keys.storedEvents, this.key('retries', job), events, MARKER_TTL_MS, stored ? 1 : 0);
    return r === 1;
  }

  /** Counts one transient failure of this job instance; returns the count including this one. */
  async noteRetry(job: JobInstance): Promise<number> {
    const key = this.key('retries', job);
    const [[, n]] = (await this.redis.multi().incr(key).pexpire(key, 86_400_000).exec()) as [[Error | null, number], unknown];
    return n;
  }
}
