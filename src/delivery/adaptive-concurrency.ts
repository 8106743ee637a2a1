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

function checkBounds(min: number, max: number): void {
  if (!(Number.isInteger(min) && min >= 1)) throw new RangeError(`min must be an integer ≥ 1, got ${min}`);
  if (!(Number.isInteger(max) && max >= min)) throw new RangeError(`max must be an integer ≥ min, got ${max}`);
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
  /** A copy: the setters below change it, never the caller's object. */
  private readonly opts: AimdOptions;

  constructor(opts: AimdOptions) {
    this.opts = { ...opts };
    checkBounds(opts.min, opts.max);
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

  get bounds(): { min: number; max: number } {
    return { min: this.opts.min, max: this.opts.max };
  }

  get latencyTargetMs(): number {
    return this.opts.latencyTargetMs;
  }

  /**
   * New floor and ceiling (a config reload): the current limit is clamped into them, the learnt value
   * kept otherwise. Lowering below the requests in flight lets them finish and starts none until
   * `inFlight < limit`, as after a decrease. Validated before anything changes.
   */
  setBounds(min: number, max: number): void {
    checkBounds(min, max);
    this.opts.min = min;
    this.opts.max = max;
    const clamped = Math.min(max, Math.max(min, this.lim));
    if (clamped < this.lim) {
      // A new episode: overloads of permits granted under the old limit must not cut the new one again.
      this.gen += 1;
      this.healthyRun = 0;
    }
    this.lim = clamped;
    this.changed();
    this.wakeWaiters();
  }

  /** New latency target; applies to the completions released from now on. */
  setLatencyTarget(ms: number): void {
    if (!(ms > 0)) throw new RangeError(`latencyTargetMs must be > 0, got ${ms}`);
    this.opts.latencyTargetMs = ms;
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
