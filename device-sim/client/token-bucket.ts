// The device's own drain pacer: a classic token bucket in events. It keeps a device that comes back
// with a backlog from sending it all at once, whatever the bridge would take: the bridge's buckets
// are a limit, this one is the device being a good citizen before the limit is reached.

export class LocalTokenBucket {
  private tokens: number;
  private last: number;

  /**
   * @param ratePerSec tokens (events) added per second, > 0
   * @param burst bucket size in events, ≥ 1; the bucket starts full
   */
  constructor(
    private ratePerSec: number,
    readonly burst: number,
    now: number,
  ) {
    if (!(ratePerSec > 0)) throw new RangeError(`ratePerSec must be > 0, got ${ratePerSec}`);
    if (!(burst >= 1)) throw new RangeError(`burst must be ≥ 1, got ${burst}`);
    this.tokens = burst;
    this.last = now;
  }

  get rate(): number {
    return this.ratePerSec;
  }

  /** Changes the refill rate from now on (tokens already earned are kept). */
  setRate(ratePerSec: number, now: number): void {
    if (!(ratePerSec > 0)) throw new RangeError(`ratePerSec must be > 0, got ${ratePerSec}`);
    this.refill(now);
    this.ratePerSec = ratePerSec;
  }

  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  /** Takes `n` tokens if they are all there; false (and nothing taken) otherwise. */
  tryTake(n: number, now: number): boolean {
    this.refill(now);
    if (n > this.tokens) return false;
    this.tokens -= n;
    return true;
  }

  /** Milliseconds until `n` tokens (at most `burst`) are available; 0 when they already are. */
  waitMs(n: number, now: number): number {
    this.refill(now);
    const need = Math.min(n, this.burst) - this.tokens;
    return need <= 0 ? 0 : Math.ceil((need / this.ratePerSec) * 1000);
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.ratePerSec) / 1000);
      this.last = now;
    }
  }
}
