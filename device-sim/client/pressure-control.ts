// How hard a device pushes: a drain rate (events/s) and a batch window (events per batch), both
// adjusted AIMD-style as TCP does with its congestion window (RFC 5681): slow start doubles the
// window while every batch is accepted, the first sign of pressure ends slow start, pressure halves
// (multiplies by `decrease`) and calm adds a fixed step. The rate is only cut when pressure repeats,
// because one deferral is already answered by waiting retryAfterMs; a device that keeps getting
// deferred is sending faster than the bridge drains, and waiting alone would not fix that.

export interface PressurePolicy {
  /** Multiplier applied on pressure, in (0, 1). */
  decrease: number;
  /** Events/s added to the drain rate per fully accepted batch (additive recovery). */
  increasePerAck: number;
  /** Floor of the drain rate, events/s (> 0). */
  minRatePerSec: number;
  /** Consecutive pressure acks before the rate is cut (≥ 1). */
  repeat: number;
  /** At most one rate cut per this many ms: acks of one overload episode count once. */
  cooldownMs: number;
}

export interface WindowPolicy {
  /** First batch size, events (slow start begins here). */
  initial: number;
  /** Largest batch, events. */
  max: number;
  /** Events added per accepted batch after slow start. */
  increase: number;
}

export class PressureControl {
  private rateNow: number;
  private windowNow: number;
  private slowStart = true;
  private consecutive = 0;
  private lastCut = -Infinity;
  private lastPressure = -Infinity;

  constructor(
    private readonly maxRatePerSec: number,
    private readonly pressure: PressurePolicy,
    private readonly win: WindowPolicy,
  ) {
    this.rateNow = maxRatePerSec;
    this.windowNow = Math.max(1, Math.min(win.initial, win.max));
  }

  /** Milliseconds since the last pressure signal (Infinity if none yet). */
  calmFor(now: number): number {
    return now - this.lastPressure;
  }

  /** Current drain rate, events/s. */
  get rate(): number {
    return this.rateNow;
  }

  /** Current largest batch, events. */
  get window(): number {
    return Math.floor(this.windowNow);
  }

  /**
   * A new connection: what the bridge could take before is no longer known, so the window restarts
   * from `initial` in slow start (as TCP restarts its window after idle, RFC 5681 §4.1). The drain
   * rate is kept: it recovers additively and the bridge's acks will correct it.
   */
  restart(): void {
    this.windowNow = Math.max(1, Math.min(this.win.initial, this.win.max));
    this.slowStart = true;
    this.consecutive = 0;
  }

  /** A batch fully accepted: grow (doubling in slow start, additively afterwards). */
  onAccepted(): void {
    this.consecutive = 0;
    this.windowNow = this.slowStart
      ? Math.min(this.win.max, this.windowNow * 2)
      : Math.min(this.win.max, this.windowNow + this.win.increase);
    this.rateNow = Math.min(this.maxRatePerSec, this.rateNow + this.pressure.increasePerAck);
  }

  /**
   * A sign that the bridge is short of capacity (a deferral, or credit 0). `fit`, when known, is how
   * many events the bridge did take from the last batch: the window never stays above it, since a
   * larger batch would only be deferred again. Returns true when the drain rate was cut.
   */
  onPressure(now: number, fit?: number): boolean {
    this.slowStart = false;
    this.lastPressure = now;
    this.consecutive++;
    let next = Math.floor(this.windowNow * this.pressure.decrease);
    if (fit !== undefined && fit > 0) next = Math.min(next, fit);
    this.windowNow = Math.max(1, next);
    if (this.consecutive < this.pressure.repeat || now - this.lastCut < this.pressure.cooldownMs) return false;
    this.lastCut = now;
    this.rateNow = Math.max(this.pressure.minRatePerSec, this.rateNow * this.pressure.decrease);
    return true;
  }
}
