// The pacing rate factor: the share of the configured write envelope the writers actually use.
// Throttling means the table (or a partition) holds less than we were told; every worker process must slow down,
// not only the one that saw the throttle, so the factor lives in Redis and is changed atomically.
// Additive increase / multiplicative decrease (AIMD, as in TCP congestion control and the AWS SDKs' adaptive
// retry mode): halve on a throttle, win back 10 % of the envelope per second.
import type { Redis } from 'ioredis';

export interface RateFactorPolicy {
  /** Factor after a throttle = factor × decrease. */
  decrease: number;
  /** Lowest factor: the writers never stop entirely, so capacity coming back is noticed. */
  min: number;
  /** Factor regained per second without throttles. */
  recoveryPerSec: number;
  /**
   * Throttles within this time of the last decrease are the same episode and do not decrease again: DynamoDB
   * meters capacity per second, so one overfull second answers many requests with throttles at once.
   */
  holdMs: number;
}

export const DEFAULT_RATE_FACTOR_POLICY: Readonly<RateFactorPolicy> = Object.freeze({
  decrease: 0.5,
  min: 0.05,
  recoveryPerSec: 0.1,
  holdMs: 1000,
});

export interface RateFactorState {
  /** Factor at `ts`. */
  factor: number;
  /** Epoch ms of the last decrease (the start of the recovery line). */
  ts: number;
}

/** Factor at `now`: the value at the last decrease, plus linear recovery, capped at 1. Pure. */
export function rateFactorAt(state: RateFactorState | null, now: number, policy: RateFactorPolicy = DEFAULT_RATE_FACTOR_POLICY): number {
  if (!state) return 1;
  return Math.min(1, state.factor + (Math.max(0, now - state.ts) * policy.recoveryPerSec) / 1000);
}

/** State after a throttle seen at `now`. Pure; the Lua below is the same rule, applied atomically in Redis. */
export function afterThrottle(state: RateFactorState | null, now: number, policy: RateFactorPolicy = DEFAULT_RATE_FACTOR_POLICY): RateFactorState {
  if (state && now - state.ts < policy.holdMs) return state;
  return { factor: Math.max(policy.min, rateFactorAt(state, now, policy) * policy.decrease), ts: now };
}

// KEYS[1]: hash {f, ts}. ARGV: op (0 read, 1 throttle), decrease, min, recoveryPerSec, holdMs.
// Time is the Redis server's, like the token buckets', so all processes agree on it.
const FACTOR_SCRIPT = `
local op = tonumber(ARGV[1])
local decrease = tonumber(ARGV[2])
local minf = tonumber(ARGV[3])
local rec = tonumber(ARGV[4])
local hold = tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HMGET', KEYS[1], 'f', 'ts')
local f = tonumber(v[1])
local ts = tonumber(v[2])
local cur = 1
if f ~= nil and ts ~= nil then
  local dt = now - ts
  if dt < 0 then dt = 0 end
  cur = math.min(1, f + dt * rec / 1000)
end
if op == 1 and (ts == nil or now - ts >= hold) then
  cur = math.max(minf, cur * decrease)
  redis.call('HSET', KEYS[1], 'f', tostring(cur), 'ts', now)
  -- Once recovered the state is meaningless; let it expire.
  redis.call('PEXPIRE', KEYS[1], math.ceil((1 - cur) / rec * 1000) + 60000)
end
return tostring(cur)
`;

type FactorCommand = (key: string, ...args: (string | number)[]) => Promise<string>;

/** The factor shared by every worker process of one key prefix. */
export class SharedRateFactor {
  private readonly cmd: FactorCommand;
  private cached = 1;

  constructor(
    redis: Redis,
    private readonly key: string,
    private readonly policy: RateFactorPolicy = DEFAULT_RATE_FACTOR_POLICY,
  ) {
    if (!('ibRateFactor' in redis)) redis.defineCommand('ibRateFactor', { lua: FACTOR_SCRIPT, numberOfKeys: 1 });
    this.cmd = ((redis as unknown as { ibRateFactor: FactorCommand }).ibRateFactor).bind(redis);
  }

  /** The last factor read or set; the pacer uses it between refreshes. */
  get current(): number {
    return this.cached;
  }

  async refresh(): Promise<number> {
    return this.run(0);
  }

  /** Reports a throttle; returns the factor after it (unchanged inside the hold time of the last decrease). */
  async throttled(): Promise<number> {
    return this.run(1);
  }

  private async run(op: 0 | 1): Promise<number> {
    const p = this.policy;
    const raw = await this.cmd(this.key, op, p.decrease, p.min, p.recoveryPerSec, p.holdMs);
    this.cached = Number(raw);
    return this.cached;
  }
}
