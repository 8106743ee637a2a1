// Device watermarks in Redis: the highest seq below which everything the device sent is durably
// accepted. Shared by every bridge instance, and never decreasing whatever order two instances
// write in.
//
// A watermark may only move over events the bridge has accepted. When a batch is partly or wholly
// deferred, its deferred range is outstanding: a later batch of the same device that starts above
// the lowest outstanding range (a live event sent before the deferred tail, or batches in flight
// together) must not be accepted, or the watermark would cover events that were never stored. The
// outstanding ranges are kept beside the watermark, in the same Redis hash slot, and dropped as the
// watermark covers them.
import type { Redis } from 'ioredis';
import type { DeferReason } from '../contract/wire.js';
import type { SharedKeys } from '../queue/keys.js';

/** Events the device was told are deferred and that are not yet accepted. */
export interface DeferredRange {
  /** Lowest deferred seq of the range still above the watermark, when known (null once the watermark entered the range). */
  from: number | null;
  to: number;
  reason: DeferReason;
}

export interface DeviceProgress {
  watermark: number;
  outstanding: DeferredRange[];
}

/** Ranges kept per device; past it the highest are forgotten (only a device with that many deferred batches in flight gets there). */
export const MAX_OUTSTANDING_RANGES = 1024;

// KEYS: watermark, outstanding. ARGV: seq (0 = no advance), op ('keep' | 'set'), JSON of the ranges ('' = none).
const COMMIT = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local new = tonumber(ARGV[1])
if new > cur then redis.call('SET', KEYS[1], ARGV[1]); cur = new end
if ARGV[2] == 'set' then
  if ARGV[3] == '' then redis.call('DEL', KEYS[2]) else redis.call('SET', KEYS[2], ARGV[3]) end
end
return cur
`;

type CommitCommand = (wmKey: string, outKey: string, seq: number, op: string, ranges: string) => Promise<number>;

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

  /** The watermark and the outstanding deferred ranges, in one round trip. */
  async read(tenant: string, device: string): Promise<DeviceProgress> {
    const [wm, out] = await this.redis.mget(this.keys.watermark(tenant, device), this.keys.outstanding(tenant, device));
    const watermark = Number(wm ?? 0);
    let ranges: DeferredRange[] = [];
    if (out) {
      try {
        ranges = JSON.parse(out) as DeferredRange[];
      } catch {
        ranges = [];
      }
    }
    return { watermark, outstanding: settleRanges(ranges, watermark) };
  }

  /**
   * Advances the watermark to `seq` unless it is already higher (0: no advance) and, when given,
   * replaces the outstanding ranges. Returns the watermark in force.
   */
  async commit(tenant: string, device: string, seq: number, outstanding?: DeferredRange[]): Promise<number> {
    const json = outstanding === undefined || outstanding.length === 0 ? '' : JSON.stringify(outstanding);
    return Number(await this.commitCommand(this.keys.watermark(tenant, device), this.keys.outstanding(tenant, device), seq, outstanding === undefined ? 'keep' : 'set', json));
  }
}

/** Ranges the watermark has not covered, lowest first; a range the watermark entered loses its known start. Pure. */
export function settleRanges(ranges: DeferredRange[], watermark: number): DeferredRange[] {
  return ranges
    .filter((r) => r.to > watermark)
    .map((r) => (r.from !== null && r.from <= watermark ? { ...r, from: null } : r))
    .sort((a, b) => a.to - b.to);
}

/**
 * Adds a deferred range, merging it with ranges it overlaps. Touching ranges stay apart: each
 * start is where the device must resume once the range below it is covered. Pure.
 */
export function addRange(ranges: DeferredRange[], added: DeferredRange): DeferredRange[] {
  const out: DeferredRange[] = [];
  let cur = added;
  const lo = (r: DeferredRange) => r.from ?? r.to;
  for (const r of ranges) {
    if (lo(r) <= cur.to && lo(cur) <= r.to) {
      const from = r.from === null || cur.from === null ? (lo(r) < lo(cur) ? r.from : cur.from) : Math.min(r.from, cur.from);
      cur = { from, to: Math.max(r.to, cur.to), reason: cur.reason };
    } else {
      out.push(r);
    }
  }
  out.push(cur);
  return out.sort((a, b) => a.to - b.to).slice(0, MAX_OUTSTANDING_RANGES);
}

/** The highest seq a batch may start at without jumping over an outstanding range. */
export function resumeBound(ranges: DeferredRange[]): number {
  const first = ranges[0];
  return first === undefined ? Number.POSITIVE_INFINITY : (first.from ?? first.to);
}
