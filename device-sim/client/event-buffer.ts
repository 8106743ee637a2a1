// The device's local buffer: it assigns seq (strictly increasing, never reused) and keeps every event
// above the watermark until the bridge has made it durable. Seqs are consecutive, so an event is
// found by arithmetic rather than search.
import type { DeviceEvent } from '../../src/contract/wire.js';

export class EventBuffer {
  private events: DeviceEvent[] = [];
  private queuedAt: number[] = [];
  private head = 0;
  private next: number;
  /** Events dropped because the buffer was full (oldest first), i.e. lost by the device. */
  overflowDropped = 0;

  /**
   * @param firstSeq seq of the first event this device will create (seq must survive device restarts)
   * @param capacity most events kept; past it the oldest are dropped and counted
   */
  constructor(
    firstSeq = 1,
    private readonly capacity = 1_000_000,
  ) {
    if (!Number.isSafeInteger(firstSeq) || firstSeq < 1) throw new RangeError(`firstSeq must be a positive safe integer, got ${firstSeq}`);
    this.next = firstSeq;
  }

  /** seq the next event will get. */
  get nextSeq(): number {
    return this.next;
  }

  /** seq of the newest event created (nextSeq - 1). */
  get lastSeq(): number {
    return this.next - 1;
  }

  /** Events kept (not yet known durable, not dropped). */
  get size(): number {
    return this.events.length - this.head;
  }

  /** seq of the oldest kept event, or nextSeq when empty. */
  get firstSeq(): number {
    return this.size > 0 ? this.events[this.head]!.seq : this.next;
  }

  /** Creates an event with the next seq. */
  push(type: string, data: Record<string, unknown>, ts: number, now: number): DeviceEvent {
    const ev: DeviceEvent = { seq: this.next++, ts, type, data };
    this.events.push(ev);
    this.queuedAt.push(now);
    if (this.size > this.capacity) {
      this.head++;
      this.overflowDropped++;
    }
    this.compact();
    return ev;
  }

  /** Moves the seq counter forward (the bridge knows a higher watermark than this device remembers). */
  skipTo(seq: number): void {
    if (seq > this.next) this.next = seq;
  }

  /** Forgets every event with seq ≤ `seq` (durable, or dropped after a rejection). */
  trimThrough(seq: number): void {
    while (this.head < this.events.length && this.events[this.head]!.seq <= seq) this.head++;
    this.compact();
  }

  /** Kept events with seq ≥ `from`. */
  countFrom(from: number): number {
    return this.size - this.indexOf(from);
  }

  /** Up to `max` kept events with seq ≥ `from`, in seq order. */
  slice(from: number, max: number): DeviceEvent[] {
    const start = this.head + this.indexOf(from);
    return this.events.slice(start, start + Math.max(0, max));
  }

  /** When the oldest kept event with seq ≥ `from` was created (for linger), or undefined. */
  queuedAtOf(from: number): number | undefined {
    const i = this.head + this.indexOf(from);
    return i < this.events.length ? this.queuedAt[i] : undefined;
  }

  private indexOf(from: number): number {
    // seqs are consecutive, so the offset is a subtraction, clamped to the kept range.
    return Math.min(this.size, Math.max(0, from - this.firstSeq));
  }

  private compact(): void {
    // Amortized O(1): drop the consumed prefix once it is as large as what is kept.
    if (this.head > 1024 && this.head * 2 > this.events.length) {
      this.events = this.events.slice(this.head);
      this.queuedAt = this.queuedAt.slice(this.head);
      this.head = 0;
    }
  }
}
