// retryAfterMs = clamp(base, minMs, maxMs) × (1 + spread × u), u uniform in [0, 1).
//
// `base` is the live estimate of when capacity for the deferred part exists (bucket refill time,
// queue drain time to its high-water, downstream backlog drain). It is never shortened: a device
// told to come back earlier than capacity exists would only be deferred again. The spread only
// lengthens it, so devices deferred in the same instant come back over a window of spread × base
// instead of in lockstep. Bounds: minMs ≤ retryAfterMs < maxMs × (1 + spread).
export interface RetryAfterPolicy {
  minMs: number;
  maxMs: number;
  spread: number;
}

export function spreadRetryAfter(baseMs: number, policy: RetryAfterPolicy, random: () => number = Math.random): number {
  const clamped = Math.min(policy.maxMs, Math.max(policy.minMs, baseMs));
  return Math.round(clamped * (1 + policy.spread * random()));
}
