// Token buckets held in Redis, shared by every bridge instance and worker process.
// One Lua script takes from several buckets at once, atomically: the grant is the same number of
// tokens from each (a device bucket and its tenant bucket, or the table envelope and a partition).
import type { Redis } from 'ioredis';

export interface BucketSpec {
  key: string;
  /** Tokens per second. */
  ratePerSec: number;
  /** Bucket size in tokens. */
  burst: number;
}

export interface TakeResult {
  /** Tokens granted (the same from every bucket). */
  granted: number;
  /** Index of the bucket that bound the grant (fewest tokens), or -1 when all of `n` was granted. */
  binding: number;
  /**
   * Milliseconds until the remainder (`n - granted`, capped at each bucket's burst) could be granted,
   * by the slowest bucket; 0 when everything was granted.
   */
  waitMs: number;
  /** Tokens left in each bucket after the take. */
  remaining: number[];
}

// KEYS: bucket keys. ARGV: n, mode (0 = up to n, 1 = all or nothing), then rate, burst per key.
// Time comes from the Redis server so that instances with skewed clocks share one notion of refill.
const TAKE_SCRIPT = `
local n = tonumber(ARGV[1])
local all = tonumber(ARGV[2]) == 1
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local avail = {}
local granted = n
local binding = -1
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[1 + 2 * i])
  local burst = tonumber(ARGV[2 + 2 * i])
  local v = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(v[1])
  local ts = tonumber(v[2])
  if tokens == nil or ts == nil then tokens = burst; ts = now end
  if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate / 1000) end
  avail[i] = tokens
  local whole = math.floor(tokens)
  if whole < granted then granted = whole; binding = i - 1 end
end
if granted < 0 then granted = 0 end
if all and granted < n then granted = 0 end
local rest = n - granted
local waitMs = 0
local remaining = {}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[1 + 2 * i])
  local burst = tonumber(ARGV[2 + 2 * i])
  local left = avail[i] - granted
  remaining[i] = tostring(left)
  redis.call('HSET', key, 'tokens', tostring(left), 'ts', now)
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 60000)
  if rest > 0 then
    local need = math.min(rest, burst) - left
    if need > 0 then
      local w = math.ceil(need / rate * 1000)
      if w > waitMs then waitMs = w end
    end
  end
end
return {granted, binding, waitMs, remaining}
`;

type TakeCommand = (numKeys: number, ...keysAndArgs: (string | number)[]) => Promise<unknown>;

export class RedisTokenBuckets {
  private readonly takeCommand: TakeCommand;

  constructor(private readonly redis: Redis) {
    // defineCommand runs EVALSHA and falls back to EVAL when Redis lost its script cache (a restart).
    if (!('ibTokenTake' in redis)) redis.defineCommand('ibTokenTake', { lua: TAKE_SCRIPT });
    const cmd = (redis as unknown as { ibTokenTake: TakeCommand }).ibTokenTake;
    this.takeCommand = cmd.bind(redis);
  }

  /**
   * Takes up to `n` tokens from every bucket at once (the same number from each).
   * With `allOrNothing`, grants `n` or 0.
   */
  async take(buckets: BucketSpec[], n: number, allOrNothing = false): Promise<TakeResult> {
    if (n <= 0) return { granted: 0, binding: -1, waitMs: 0, remaining: [] };
    const args: (string | number)[] = [n, allOrNothing ? 1 : 0];
    for (const b of buckets) args.push(b.ratePerSec, b.burst);
    const keys = buckets.map((b) => b.key);
    const raw = await this.takeCommand(keys.length, ...keys, ...args);
    const [granted, binding, waitMs, remaining] = raw as [number, number, number, string[]];
    return { granted, binding, waitMs, remaining: remaining.map(Number) };
  }

  /** Reads bucket levels without taking (for admin endpoints); a bucket never used reads as full. */
  async peek(buckets: BucketSpec[]): Promise<number[]> {
    const t = await this.redis.time();
    const now = Number(t[0]) * 1000 + Math.floor(Number(t[1]) / 1000);
    const out: number[] = [];
    for (const b of buckets) {
      const [tokens, ts] = await this.redis.hmget(b.key, 'tokens', 'ts');
      if (tokens === null || ts === null) {
        out.push(b.burst);
        continue;
      }
      out.push(Math.min(b.burst, Number(tokens) + (Math.max(0, now - Number(ts)) * b.ratePerSec) / 1000));
    }
    return out;
  }
}
