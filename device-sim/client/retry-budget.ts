// A retry budget in events, after Finagle's RetryBudget and gRPC's retry throttling: every fresh event
// sent earns `ratio` of a retry, and a small reserve refilled over time lets a device that has sent
// little still make progress. A resend (an event sent again after a deferral or a lost ack) spends
// from the earned part first, then from the reserve; the part of a resend the bridge accepts is
// refunded once the bridge has been calm for a while (refundAfterCalmMs), so a device is not held
// back after an overload has passed. When the budget does not cover a resend, the device waits
// instead of resending: under a long overload the retries of a fleet stay a fixed fraction of its
// real traffic rather than growing with every round of deferrals.

export interface RetryBudgetPolicy {
  /** Retried events allowed per fresh event sent (0–1); 0.1 keeps retries ≤ 10 % of fresh sends, plus the reserve. */
  ratio: number;
  /** Reserve refill in events per second (≥ 0), so that a device with few fresh events can still retry. */
  minPerSec: number;
  /** Reserve size in events (≥ 0); the reserve starts full. */
  minBurst: number;
}

export class RetryBudget {
  private earned = 0;
  private reserve: number;
  private last: number;
  private fresh = 0;
  private retried = 0;

  constructor(
    readonly policy: RetryBudgetPolicy,
    now: number,
  ) {
    if (!(policy.ratio >= 0 && policy.ratio <= 1)) throw new RangeError(`ratio must lie in [0, 1], got ${policy.ratio}`);
    if (!(policy.minPerSec >= 0)) throw new RangeError(`minPerSec must be ≥ 0, got ${policy.minPerSec}`);
    if (!(policy.minBurst >= 0)) throw new RangeError(`minBurst must be ≥ 0, got ${policy.minBurst}`);
    this.reserve = policy.minBurst;
    this.last = now;
  }

  /** Fresh events sent so far. */
  get freshEvents(): number {
    return this.fresh;
  }

  /** Retried events spent and not refunded so far. */
  get retriedEvents(): number {
    return this.retried;
  }

  recordFresh(n: number): void {
    this.fresh += n;
    this.earned += n * this.policy.ratio;
  }

  /** Events that may be resent now. */
  available(now: number): number {
    this.refill(now);
    return this.earned + this.reserve;
  }

  /** Spends `n` retried events if the budget covers them; false (nothing spent) otherwise. */
  tryWithdraw(n: number, now: number): boolean {
    if (n <= 0) return true;
    this.refill(now);
    if (n > this.earned + this.reserve + 1e-9) return false;
    const fromEarned = Math.min(this.earned, n);
    this.earned -= fromEarned;
    this.reserve = Math.max(0, this.reserve - (n - fromEarned));
    this.retried += n;
    return true;
  }

  /** Gives back `n` retried events that the bridge accepted: a retry that succeeds is not waste. */
  refund(n: number): void {
    if (n <= 0) return;
    this.earned += n;
    this.retried = Math.max(0, this.retried - n);
  }

  /** Milliseconds until `n` retried events are covered; Infinity if the reserve can never cover them. */
  waitMs(n: number, now: number): number {
    this.refill(now);
    const missing = n - this.earned - this.reserve;
    if (missing <= 0) return 0;
    if (this.policy.minPerSec <= 0 || n - this.earned > this.policy.minBurst) return Infinity;
    return Math.ceil((missing / this.policy.minPerSec) * 1000);
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.reserve = Math.min(this.policy.minBurst, this.reserve + ((now - this.last) * this.policy.minPerSec) / 1000);
      this.last = now;
    }
  }
}
