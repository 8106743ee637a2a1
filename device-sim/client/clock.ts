// Time and randomness are injected so that every decision of the device clients can be replayed
// in a unit test: a test drives a ManualClock, the fleet and real devices use systemClock.

/** An opaque timer handle returned by Clock.setTimer. */
export interface Timer {
  readonly __timer?: never;
}

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds. */
  setTimer(ms: number, fn: () => void): Timer;
  clearTimer(timer: Timer): void;
}

/** A source of uniform numbers in [0, 1), like Math.random. */
export type Random = () => number;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (ms, fn) => {
    const t = setTimeout(fn, Math.max(0, ms));
    // A device's pending retry must not keep a process alive that has nothing else to do.
    t.unref?.();
    return t as unknown as Timer;
  },
  clearTimer: (timer) => clearTimeout(timer as unknown as NodeJS.Timeout),
};

/** A small seeded generator (mulberry32) for reproducible fleets and tests. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
