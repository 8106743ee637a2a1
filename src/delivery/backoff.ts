/**
 * Full-jitter exponential backoff: sleep = random(0, min(maxMs, baseMs * 2^attempt)).
 *
 * Why full jitter: when many writers are throttled at the same instant, a fixed or "equal jitter" delay makes
 * them come back together and collide again. Drawing the whole delay uniformly spreads the retries over the
 * window and gives the lowest total work among the AWS-studied variants
 * (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015).
 *
 * `attempt` counts from 0 (the first retry waits up to `baseMs`). `random` is injectable for tests and must
 * return a value in [0, 1), like Math.random.
 */
export function fullJitterBackoff(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  if (!Number.isFinite(attempt) || attempt < 0) throw new RangeError(`attempt must be a finite number ≥ 0, got ${attempt}`);
  if (!Number.isFinite(baseMs) || baseMs < 0) throw new RangeError(`baseMs must be a finite number ≥ 0, got ${baseMs}`);
  if (!(maxMs >= baseMs)) throw new RangeError(`maxMs must be ≥ baseMs, got maxMs=${maxMs} baseMs=${baseMs}`);
  // Cap the exponent before Math.pow so that a long outage (attempt in the thousands) cannot overflow to Infinity.
  const exponent = Math.min(Math.floor(attempt), 52);
  const ceiling = Math.min(maxMs, baseMs * 2 ** exponent);
  const r = random();
  // Clamp a misbehaving random source rather than return a negative or over-ceiling delay.
  const unit = r < 0 ? 0 : r >= 1 ? 1 - Number.EPSILON : r;
  return Math.floor(unit * ceiling);
}
