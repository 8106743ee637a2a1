// The contract client's sizing decision, pure: given what is buffered and what the device knows
// (window, learned cap, credit, retry budget, linger), how many events go out now — or until when to
// wait, and why. ContractDevice applies it (and takes the events from its drain bucket).

export interface BatchPlanInput {
  now: number;
  /** First seq to send (watermark + 1, or after a dropped rejection). */
  sendFrom: number;
  /** Buffered events with seq ≥ sendFrom (consecutive seqs). */
  available: number;
  /** Highest seq ever sent: events at or below it are resends. */
  highestSent: number;
  /** Earliest time a batch may go (retryAfterMs and backoff). */
  notBefore: number;
  /** Current AIMD window, events. */
  window: number;
  /** Hard limits: learned batch cap, batch.max, drain bucket size. */
  limit: number;
  /** The last ack's credit and since when it holds; `invited` for a deferral's credit. */
  credit: { value: number; at: number; invited: boolean } | null;
  creditTtlMs: number;
  lingerMs: number;
  /** When the oldest event at sendFrom was created. */
  queuedAt: number | undefined;
  budget: {
    /** Resend events the retry budget covers now. */
    available: number;
    /** Time until `n` resend events are covered (Infinity: never by itself). */
    waitMs: (n: number) => number;
    /** The reserve size: the most a wait can earn. */
    minBurst: number;
  };
  /** Where a wait for the budget can never end by itself, wait this long and look again. */
  maxWaitMs: number;
}

export type BatchPlan =
  | { send: number; /** resend events the bridge invited (not charged to the budget) */ invited: number; /** resend events in the batch */ resent: number }
  | { waitUntil: number; why: 'retry_after' | 'credit' | 'linger' | 'budget' };

/** Smallest resend worth waiting for when the retry budget is short, events. */
export const RETRY_STEP = 5;

export function planBatch(i: BatchPlanInput): BatchPlan | null {
  if (i.available === 0) return null;
  if (i.now < i.notBefore) return { waitUntil: i.notBefore, why: 'retry_after' };

  const limit = Math.min(i.available, i.limit);
  let n = Math.min(limit, i.window);
  let invited = 0;
  const c = i.credit;
  if (c && i.now - c.at <= i.creditTtlMs) {
    if (c.value === 0) return { waitUntil: c.at + i.creditTtlMs + 1, why: 'credit' };
    // A deferral's credit was computed for this moment: it beats the window's guess.
    if (c.invited) invited = c.value;
    n = c.invited ? Math.min(limit, c.value) : Math.min(n, c.value);
  }
  // A partly filled batch waits a little for company: fewer, larger messages.
  if (n === i.available && i.lingerMs > 0) {
    const since = i.queuedAt ?? i.now;
    if (i.now < since + i.lingerMs) return { waitUntil: since + i.lingerMs, why: 'linger' };
  }

  const resentIn = (count: number) => Math.max(0, Math.min(i.sendFrom + count - 1, i.highestSent) - i.sendFrom + 1);
  let resent = resentIn(n);
  // A resend the bridge invited is not a blind retry: it does not draw on the budget.
  const charged = Math.max(0, resent - invited);
  if (charged > 0) {
    const allow = Math.floor(i.budget.available);
    if (allow < charged) {
      // Wait for a handful of events rather than a full reserve: progress in small steps beats a
      // long silence, and the budget still bounds the total.
      const least = Math.min(charged, RETRY_STEP, Math.max(1, Math.floor(i.budget.minBurst)));
      if (allow < least) {
        const wait = i.budget.waitMs(least);
        return { waitUntil: i.now + (Number.isFinite(wait) ? wait : i.maxWaitMs), why: 'budget' };
      }
      n = Math.min(resent, invited + allow); // the covered part of the resend, nothing fresh behind it
      resent = resentIn(n);
    }
  }
  return { send: n, invited: Math.min(invited, resent), resent };
}
