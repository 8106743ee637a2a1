// Retry timing of a device: bounded exponential backoff with full jitter, floored by the bridge's
// retryAfterMs. Full jitter (delay uniform in [0, min(max, base·2^attempt)]) spreads a fleet that
// was deferred at the same instant over the whole window instead of bringing it back in lockstep
// (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015). The bridge's retryAfterMs is a
// promise about capacity ("not before"), so a device never comes back earlier than it, whatever
// the draw.

import type { Random } from './clock.js';

export interface BackoffPolicy {
  /** Ceiling of the first retry's delay, ms (≥ 0). */
  baseMs: number;
  /** Largest ceiling, ms (≥ baseMs). Bounds the jittered part; retryAfterMs may exceed it. */
  maxMs: number;
}

/** The jitter ceiling of attempt `attempt` (0-based): min(maxMs, baseMs · 2^attempt). */
export function backoffCeiling(attempt: number, policy: BackoffPolicy): number {
  // Cap the exponent so that a long outage cannot overflow to Infinity.
  const exp = Math.min(Math.max(0, Math.floor(attempt)), 52);
  return Math.min(policy.maxMs, policy.baseMs * 2 ** exp);
}

/**
 * Delay before the next attempt: a full-jitter draw in [0, ceiling), never below `retryAfterMs`.
 * `attempt` counts consecutive failures from 0 and is reset by the caller on progress.
 */
export function retryDelay(attempt: number, policy: BackoffPolicy, random: Random, retryAfterMs = 0): number {
  const r = random();
  const unit = r < 0 ? 0 : r >= 1 ? 1 - Number.EPSILON : r;
  const jittered = Math.floor(unit * backoffCeiling(attempt, policy));
  return Math.max(Math.max(0, retryAfterMs), jittered);
}
