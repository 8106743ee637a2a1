import type { Clock, Timer } from './clock.js';

interface Pending {
  at: number;
  order: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that only moves when told to: `advance(ms)` runs every timer due in that span, in due order
 * (ties in creation order). For unit tests of the device clients and of code that embeds them.
 */
export class ManualClock implements Clock {
  private t: number;
  private order = 0;
  private timers: Pending[] = [];

  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimer(ms: number, fn: () => void): Timer {
    const p: Pending = { at: this.t + Math.max(0, ms), order: this.order++, fn, cancelled: false };
    this.timers.push(p);
    return p as unknown as Timer;
  }

  clearTimer(timer: Timer): void {
    (timer as unknown as Pending).cancelled = true;
  }

  /** Timers not yet run nor cancelled. */
  pendingTimers(): number {
    return this.timers.filter((p) => !p.cancelled).length;
  }

  /** Moves time forward by `ms`, running due timers (and timers they set that fall inside the span). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.timers = this.timers.filter((p) => !p.cancelled);
      let next: Pending | undefined;
      for (const p of this.timers) {
        if (p.at <= end && (!next || p.at < next.at || (p.at === next.at && p.order < next.order))) next = p;
      }
      if (!next) break;
      this.t = Math.max(this.t, next.at);
      next.cancelled = true;
      next.fn();
    }
    this.t = end;
  }
}
