// Device watermarks in Redis: the highest seq below which everything the device sent is durably
// accepted. Shared by every bridge instance, and never decreasing whatever order two instances
// write in.
//
// A watermark may only move over events the bridge has accepted. When a batch is partly deferred,
// the deferred range is outstanding: a later batch of the same device that starts above it (a live
// event sent before the deferred tail, or a second batch in flight) must not be accepted, or the
// watermark would cover events that were never stored. The outstanding range is kept beside the
// watermark, in the same Redis hash slot, and cleared once the watermark covers it.
import type { Redis } from 'ioredis';
import type { DeferReason } from '../contract/wire.js';
import type { SharedKeys } from '../queue/keys.js';

/** Events the device was told are deferred and that are not yet accepted. */
export interface Outstanding {
  /** Lowest deferred seq still above the watermark, when known; null when only `to` is known. */
  from: number | null;
  /** Highest seq ever deferred and not yet covered by the watermark. */
  to: number;
  reason: DeferReason;
}

export interface DeviceProgress {
  watermark: number;
  outstanding: Outstanding | null;
}

// KEYS: watermark, outstanding hash. ARGV: seq (0 = no advance), op ('keep' | 'set' | 'clear'), from ('' = unknown), to, reason.
const COMMIT = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local new = tonumber(ARGV[1])
if new > cur then redis.call('SET', KEYS[1], ARGV[1]); cur = new end
if ARGV[2] == 'clear' then
  redis.call('DEL', KEYS[2])
elseif ARGV[2] == 'set' then
  redis.call('HSET', KEYS[2], 'from', ARGV[3], 'to', ARGV[4], 'reason', ARGV[5])
end
local to = tonumber(redis.call('HGET', KEYS[2], 'to') or '0')
if to > 0 and to <= cur then redis.call('DEL', KEYS[2]) end
return cur
`;

type CommitCommand = (wmKey: string, outKey: string, seq: number, op: string, from: string, to: number, reason: string) => Promise<number>;

export class Watermarks {
  private readonly commitCommand: CommitCommand;

  constructor(
    private readonly redis: Redis,
    private readonly keys: SharedKeys,
  ) {
    if (!('ibWatermarkCommit' in redis)) redis.defineCommand('ibWatermarkCommit', { numberOfKeys: 2, lua: COMMIT });
    this.commitCommand = (redis as unknown as { ibWatermarkCommit: CommitCommand }).ibWatermarkCommit.bind(redis);
  }

  async get(tenant: string, device: string): Promise<number> {
    return Number((await this.redis.get(this.keys.watermark(tenant, device))) ?? 0);
  }

  /** The watermark and the outstanding deferred range, in one round trip. */
  async read(tenant: string, device: string): Promise<DeviceProgress> {
    const res = await this.redis
      .multi()
      .get(this.keys.watermark(tenant, device))
      .hmget(this.keys.outstanding(tenant, device), 'from', 'to', 'reason')
      .exec();
    const watermark = Number((res?.[0]?.[1] as string | null) ?? 0);
    const [from, to, reason] = (res?.[1]?.[1] as (string | null)[] | undefined) ?? [];
    const outstanding = to ? { from: from ? Number(from) : null, to: Number(to), reason: reason as DeferReason } : null;
    return { watermark, outstanding: outstanding && outstanding.to > watermark ? outstanding : null };
  }

  /**
   * Advances the watermark to `seq` unless it is already higher (0: no advance) and replaces the
   * outstanding range (undefined: keep it; null: clear it). Returns the watermark in force.
   */
  async commit(tenant: string, device: string, seq: number, outstanding?: Outstanding | null): Promise<number> {
    const op = outstanding === undefined ? 'keep' : outstanding === null ? 'clear' : 'set';
    return Number(
      await this.commitCommand(
        this.keys.watermark(tenant, device),
        this.keys.outstanding(tenant, device),
        seq,
        op,
        outstanding?.from == null ? '' : String(outstanding.from),
        outstanding?.to ?? 0,
        outstanding?.reason ?? '',
      ),
    );
  }
}

/**
 * The outstanding range after a batch: what was deferred now, merged with what was before.
 * `acceptedTo` is the new watermark candidate. Pure.
 */
export function nextOutstanding(before: Outstanding | null, deferredFrom: number | null, deferredTo: number | null, watermark: number, reason: DeferReason | undefined): Outstanding | null | undefined {
  const to = Math.max(before?.to ?? 0, deferredTo ?? 0);
  if (to <= watermark) return before ? null : undefined;
  // Lowest deferred seq still above the watermark: this batch's deferred start when it has one
  // (it is the first event after the accepted prefix), else the earlier one if still above.
  const from = deferredFrom ?? (before?.from != null && before.from > watermark ? before.from : null);
  return { from, to, reason: reason ?? before?.reason ?? 'overloaded' };
}
