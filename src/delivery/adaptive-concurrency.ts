// Adaptive concurrency: an AIMD limit on requests in flight to one downstream service.
//
// Why AIMD: it is the rule that makes independent senders converge on a fair share of a bottleneck
// without knowing its capacity (Chiu & Jain 1989; TCP congestion avoidance, RFC 5681 §3.1). We add 1 to
// the limit after a window of healthy completions (one window = `increaseAfter`, by default the current
// limit, as TCP grows cwnd by one segment per round trip) and multiply it by `decreaseFactor` on
// back-pressure: an explicit overload answer (HTTP 429) or a latency above the target.
//
// Two refinements keep the limit honest:
// - One decrease per congestion episode: the requests in flight when the limit was cut were sent under
//   the old limit, so their overload answers say nothing new (TCP's "once per window", RFC 5681 §3.1).
//   A permit carries the generation it was issued in; only a permit of the current generation can cut.
// - No growth while the limit is not used: a completion counts toward growth only if the limit was
//   binding when its request started (cwnd validation, RFC 7661). Light load therefore cannot inflate
//   the limit to its ceiling and expose the service to a burst at full concurrency later.
//
// The invariant callers rely on: a permit is granted only while `inFlight < limit`, and `limit ≤ max`.
// After a decrease, requests already in flight finish and no new one starts until `inFlight < limit`.

export type LimiterOutcome =
  /** The service handled the request; slow answers (latency above target) count as overload. */
  | 'ok'
  /** The service pushed back (429, 503, timeout): cut the limit. */
  | 'overload'
  /** Says nothing about capacity (e.g. the request was never sent, or a client-side error). */
  | 'ignore';

export interface AimdOptions {
  /** Floor of the limit (≥ 1). */
  min: number;
  /** Ceiling of the limit (≥ min). */
  max: number;
  /** Limit at start, clamped to [min, max]. */
  initial: number;
  /** A request slower than this (ms) counts as overload. */
  latencyTargetMs: number;
  /** Healthy completions (with the limit binding) per +1; default: the current limit. */
  increaseAfter?: number;
  /** Multiplicative decrease factor in (0, 1); default 0.5. */
  decreaseFactor?: number;
  now?: () => number;
  /** Called whenever the limit or the in-flight count changes. */
  onChange?: (limit: number, inFlight: number) => void;
}

export interface Permit {
  readonly startedAt: number;
  /** Limiter generation when granted (see the one-decrease-per-episode rule above). */
  readonly generation: number;
  /** Whether the limit was binding when this permit was granted. */
  readonly saturated: boolean;
}

export class AimdLimiter {
  private lim: number;
  private active = 0;
  private gen = 0;
  private healthyRun = 0;
  private released = new WeakSet<Permit>();
  private waiters: Array<(p: Permit) => void> = [];
  private readonly now: () => number;
  private readonly factor: number;

  constructor(private readonly opts: AimdOptions) {
    if (!(Number.isInteger(opts.min) && opts.min >= 1)) throw new RangeError(`min must be an integer ≥ 1, got ${opts.min}`);
    if (!(Number.isInteger(opts.max) && opts.max >= opts.min)) throw new RangeError(`max must be an integer ≥ min, got ${opts.max}`);
    this.factor = opts.decreaseFactor ?? 0.5;
    if (!(this.factor > 0 && this.factor < 1)) throw new RangeError(`decreaseFactor must lie in (0, 1), got ${this.factor}`);
    if (opts.increaseAfter !== undefined && !(opts.increaseAfter >= 1)) throw new RangeError(`increaseAfter must be ≥ 1, got ${opts.increaseAfter}`);
    this.lim = Math.min(opts.max, Math.max(opts.min, Math.round(opts.initial)));
    this.now = opts.now ?? Date.now;
  }

  get limit(): number {
    return this.lim;
  }

  get inFlight(): number {
    return this.active;
  }

  /** Whether a permit would be granted now. */
  get available(): boolean {
    return this.active < this.lim;
  }

  /** A permit if one is free now, else null. */
  tryAcquire(): Permit | null {
    if (this.active >= this.lim) return null;
    this.active += 1;
    const permit: Permit = { startedAt: this.now(), generation: this.gen, saturated: this.active >= this.lim };
    this.changed();
    return permit;
  }

  /** Waits (FIFO) for a permit. */
  acquire(): Promise<Permit> {
    const p = this.waiters.length === 0 ? this.tryAcquire() : null;
    if (p) return Promise.resolve(p);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Returns a permit with what its request taught us. `latencyMs` defaults to the time since the
   * permit was granted. Releasing the same permit twice is a no-op (a bug guard, not a feature).
   */
  release(permit: Permit, outcome: LimiterOutcome, latencyMs = this.now() - permit.startedAt): void {
    if (this.released.has(permit)) return;
    this.released.add(permit);
    this.active -= 1;
    const verdict = outcome === 'ok' && latencyMs > this.opts.latencyTargetMs ? 'overload' : outcome;
    if (verdict === 'overload') {
      if (permit.generation === this.gen) {
        this.lim = Math.max(this.opts.min, Math.floor(this.lim * this.factor));
        this.gen += 1;
        this.healthyRun = 0;
      }
    } else if (verdict === 'ok' && permit.saturated) {
      this.healthyRun += 1;
      if (this.healthyRun >= (this.opts.increaseAfter ?? this.lim)) {
        this.healthyRun = 0;
        if (this.lim < this.opts.max) this.lim += 1;
      }
    }
    this.changed();
    this.wakeWaiters();
  }

  private wakeWaiters(): void {
    while (this.waiters.length > 0 && this.active < this.lim) {
      const resolve = this.waiters.shift()!;
      resolve(this.tryAcquire()!);
    }
  }

  private changed(): void {
    this.opts.onChange?.(this.lim, this.active);
  }
}
