// A circuit breaker in front of a downstream service: closed → open → half-open → closed.
//
// Why: when the service is down, every request is a wasted round trip and every retry adds load to a
// service trying to come back. After `failureThreshold` consecutive failures the circuit opens and
// callers hold their work (it waits, it is not failed); after `openMs` one probe request is let
// through (half-open); its success closes the circuit, its failure opens it again for another `openMs`.
// This is the classic shape (Nygard, "Release It!", ch. 5), with one probe at a time in half-open.
//
// What counts as a failure is the caller's decision (the one classifier of its stage): for OpenSearch,
// "no answer or a 5xx", not a 429 (a 429 is the service answering; adaptive concurrency handles it).

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit (≥ 1). */
  failureThreshold: number;
  /** Time the circuit stays open before one probe is allowed, in ms (≥ 1). */
  openMs: number;
  /** Injectable clock in epoch ms (tests). */
  now?: () => number;
  /** Called on every state change (metrics, logs). */
  onStateChange?: (to: BreakerState, from: BreakerState) => void;
}

function checkSettings(s: { failureThreshold: number; openMs: number }): void {
  if (!(Number.isInteger(s.failureThreshold) && s.failureThreshold >= 1)) {
    throw new RangeError(`failureThreshold must be an integer ≥ 1, got ${s.failureThreshold}`);
  }
  if (!(s.openMs >= 1)) throw new RangeError(`openMs must be ≥ 1, got ${s.openMs}`);
}

export class CircuitBreaker {
  private st: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private probeInFlight = false;
  private readonly now: () => number;
  /** A copy: setSettings changes it, never the caller's object. */
  private readonly opts: CircuitBreakerOptions;

  constructor(opts: CircuitBreakerOptions) {
    checkSettings(opts);
    this.opts = { ...opts };
    this.now = opts.now ?? Date.now;
  }

  get settings(): { failureThreshold: number; openMs: number } {
    return { failureThreshold: this.opts.failureThreshold, openMs: this.opts.openMs };
  }

  /**
   * New threshold and open time (a config reload). The state is kept: an open circuit now waits the new
   * openMs counted from when it opened; a closed one opens at the next failure if the failures already
   * counted reach the new threshold.
   */
  setSettings(s: { failureThreshold: number; openMs: number }): void {
    checkSettings(s);
    this.opts.failureThreshold = s.failureThreshold;
    this.opts.openMs = s.openMs;
  }

  /** The state as of now: an open circuit whose time is up reads as half-open. */
  get state(): BreakerState {
    if (this.st === 'open' && this.now() - this.openedAt >= this.opts.openMs) this.transition('half_open');
    return this.st;
  }

  /** Consecutive failures counted in the closed state. */
  get consecutiveFailures(): number {
    return this.failures;
  }

  /**
   * Asks to send one request. Closed: always yes. Open: no. Half-open: yes for the single probe, no
   * while it is out. Every `true` must be followed by exactly one `recordSuccess` or `recordFailure`.
   */
  tryAcquire(): boolean {
    const s = this.state;
    if (s === 'closed') return true;
    if (s === 'open' || this.probeInFlight) return false;
    this.probeInFlight = true;
    return true;
  }

  /** Ms until a request may be tried again: 0 when one may be tried now (or the probe is out: wait for it). */
  msUntilRetry(): number {
    const s = this.state;
    if (s === 'open') return Math.max(0, this.openedAt + this.opts.openMs - this.now());
    return 0;
  }

  recordSuccess(): void {
    this.failures = 0;
    this.probeInFlight = false;
    if (this.st !== 'closed') this.transition('closed');
  }

  recordFailure(): void {
    const s = this.state;
    if (s === 'half_open') {
      // The probe failed (or a request that started before the circuit opened came back failed while
      // half-open): the service is still not back.
      this.probeInFlight = false;
      this.open();
      return;
    }
    if (s === 'open') return; // a straggler that started before the circuit opened: already counted
    this.failures += 1;
    if (this.failures >= this.opts.failureThreshold) this.open();
  }

  private open(): void {
    this.openedAt = this.now();
    this.failures = 0;
    this.transition('open');
  }

  private transition(to: BreakerState): void {
    const from = this.st;
    if (from === to) return;
    this.st = to;
    this.opts.onStateChange?.(to, from);
  }
}
