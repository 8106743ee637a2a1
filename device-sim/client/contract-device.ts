// The reference device client of the ingest contract (docs/device-client.md).
//
// The loop, in one breath: buffer events with increasing seq; on every connect subscribe to the ack
// topic and sync to learn the watermark; send from watermark + 1, one batch at a time, paced by a
// local token bucket and sized within the bridge's credit; on a deferral wait at least retryAfterMs
// (plus jittered backoff when it repeats), resend only the deferred tail, and keep resends inside a
// retry budget; on a lost ack, sync and resume from the watermark rather than resending blindly.
import type { Ack } from '../../src/contract/wire.js';
import { retryDelay } from './backoff.js';
import { planBatch } from './batch-plan.js';
import { systemClock, type Clock, type Random, type Timer } from './clock.js';
import { compileContractOptions, type ContractClientOptions, type ContractClientSettings } from './contract-options.js';
import { DeviceSession, type SessionState } from './device-session.js';
import { emptyStats, type AckObserver, type DeviceStats, type SimDevice } from './device-stats.js';
import { EventBuffer } from './event-buffer.js';
import { PressureControl } from './pressure-control.js';
import { RetryBudget } from './retry-budget.js';
import { LocalTokenBucket } from './token-bucket.js';
import { silentLog, type Connector, type DeviceLog } from './transport.js';

export interface ContractDeviceOptions {
  tenant: string;
  device: string;
  connector: Connector;
  /** Client knobs; every one has a default (contract-options.ts). */
  client?: ContractClientOptions;
  /** seq of the first event created by this instance. Persist lastSeq across restarts and pass lastSeq + 1. */
  firstSeq?: number;
  clock?: Clock;
  random?: Random;
  log?: DeviceLog;
  onAck?: AckObserver;
}

export type ConnectionState = SessionState;

interface Flight {
  from: number;
  to: number;
  /** Last seq of the batch's resent prefix (from - 1 when nothing in it was resent). */
  resentTo: number;
  /** Resent events drawn from the retry budget (refunded if the bridge takes them). */
  charged: number;
  timer: Timer;
}

// The deferral reasons that mean "the bridge is short of capacity", as opposed to batch_cap (a fixed
// per-batch size limit that the device learns once and then stays under).
const CAPACITY_REASONS = new Set(['device_rate_limited', 'tenant_rate_limited', 'queue_saturated', 'storage_backpressure', 'search_backpressure', 'overloaded']);

export class ContractDevice implements SimDevice {
  readonly tenant: string;
  readonly device: string;
  readonly settings: Readonly<ContractClientSettings>;
  readonly stats: DeviceStats = emptyStats();

  private readonly clock: Clock;
  private readonly random: Random;
  private readonly log: DeviceLog;
  private readonly onAckObserver: AckObserver | undefined;
  private readonly session: DeviceSession;
  private readonly buffer: EventBuffer;
  private readonly bucket: LocalTokenBucket;
  private readonly budget: RetryBudget;
  private readonly control: PressureControl;

  private wm = 0;
  /** Highest seq dropped after a rejection: resume above it even though it is not durable. */
  private droppedThrough = 0;
  private sendFrom: number;
  private highestSent = 0;
  private readonly inFlight = new Map<string, Flight>();
  private batchCounter = 0;
  private notBefore = 0;
  /** Consecutive failures (deferral without progress, ack timeout): drives backoff. */
  private attempt = 0;
  /**
   * The last ack's credit, trusted from `at` for creditTtlMs. `invited`: it came with a deferral, so
   * the bridge computed it for the moment it asked the device to come back.
   */
  private credit: { value: number; at: number; invited: boolean } | null = null;
  /** The bridge's per-batch cap, once a batch_cap deferral has shown it. */
  private learnedCap = Infinity;
  private wakeTimer: Timer | null = null;
  private wakeAt = Infinity;

  constructor(opts: ContractDeviceOptions) {
    this.tenant = opts.tenant;
    this.device = opts.device;
    this.settings = compileContractOptions(opts.client);
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.log = opts.log ?? silentLog;
    this.onAckObserver = opts.onAck;
    const now = this.clock.now();
    this.buffer = new EventBuffer(opts.firstSeq ?? 1, this.settings.maxBuffered);
    this.sendFrom = this.buffer.nextSeq;
    this.bucket = new LocalTokenBucket(this.settings.drain.ratePerSec, this.settings.drain.burst, now);
    this.budget = new RetryBudget(this.settings.retryBudget, now);
    this.control = new PressureControl(this.settings.drain.ratePerSec, this.settings.pressure, this.settings.batch);
    this.session = new DeviceSession(opts.tenant, opts.device, opts.connector, this.settings, this.clock, this.random, this.log, this.stats, {
      onAck: (ack, synced) => this.handleAck(ack, synced),
      onDown: () => this.clearFlights(),
    });
  }

  /** Highest durable seq the bridge has reported. */
  get watermark(): number {
    return this.wm;
  }

  get lastSeq(): number {
    return this.buffer.lastSeq;
  }

  /** Events kept on the device that are not yet durable. */
  get pending(): number {
    return this.buffer.size;
  }

  get state(): ConnectionState {
    return this.session.state;
  }

  /** Current drain rate (events/s) and batch window (events), after pressure adjustments. */
  get pace(): { ratePerSec: number; window: number } {
    return { ratePerSec: this.control.rate, window: Math.min(this.control.window, this.learnedCap) };
  }

  /** Creates an event with the next seq and sends it when pacing allows. */
  enqueue(type: string, data: Record<string, unknown>, ts = this.clock.now()): void {
    this.buffer.push(type, data, ts, this.clock.now());
    this.stats.eventsCreated++;
    this.pump();
  }

  /** Starts connecting (and reconnecting, with jitter, until stop()). Also ends a stop(). */
  start(): void {
    this.session.start();
  }

  /** Disconnects and stays offline until start(); buffered events are kept (the device keeps producing). */
  stop(): void {
    this.session.stop();
    if (this.wakeTimer) this.clock.clearTimer(this.wakeTimer);
    this.wakeTimer = null;
    this.wakeAt = Infinity;
  }

  // ---- acks ----------------------------------------------------------------------------------

  private handleAck(ack: Ack, synced: boolean): void {
    const now = this.clock.now();
    this.onAckObserver?.(ack, now);
    this.advanceWatermark(ack.watermark);

    if (ack.status === 'sync') {
      if (synced) {
        this.control.restart();
        // A device that lost its seq counter must not reuse seqs the bridge already holds.
        if (this.wm >= this.buffer.nextSeq) {
          this.log.warn({ device: this.device, watermark: this.wm, nextSeq: this.buffer.nextSeq }, 'bridge watermark is ahead of the local seq counter; skipping ahead');
          this.buffer.skipTo(this.wm + 1);
        }
        this.resumeFromWatermark();
      }
      this.pump();
      return;
    }

    const flight = ack.batchId === undefined ? undefined : this.inFlight.get(ack.batchId);
    if (!flight) {
      // An ack for a batch given up on (timed out, or sent on an earlier connection): its watermark
      // is still true and was used above; its verdict is stale.
      this.pump();
      return;
    }
    this.clock.clearTimer(flight.timer);
    this.inFlight.delete(ack.batchId!);
    // Once the bridge has been calm for a while, a resend it takes was not waste: it is given back
    // to the budget, so that a device held back during an overload is not held back after it. While
    // pressure goes on, every resend counts, and the budget keeps retrying a fraction of real traffic.
    if (flight.charged > 0 && this.control.calmFor(now) >= this.settings.retryBudget.refundAfterCalmMs) {
      this.budget.refund(Math.min(flight.charged, Math.max(0, Math.min(this.wm, flight.resentTo) - flight.from + 1)));
    }
    this.stats.acks++;
    this.stats.acceptedReported += ack.accepted ?? 0;
    this.stats.duplicatesReported += ack.duplicates ?? 0;
    this.credit = ack.credit === undefined ? null : { value: ack.credit, at: now, invited: ack.status === 'partial' || ack.status === 'deferred' };

    switch (ack.status) {
      case 'accepted':
        this.attempt = 0;
        // credit 0 means the bridge could take nothing more right now: the device is pacing faster
        // than the bridge refills, which is pressure even though this batch went through.
        if (ack.credit === 0) {
          if (this.control.onPressure(now, ack.accepted)) this.stats.rateCuts++;
        } else {
          this.control.onAccepted();
        }
        this.bucket.setRate(this.control.rate, now);
        break;
      case 'partial':
      case 'deferred':
        this.onDeferral(ack, flight, now);
        break;
      case 'rejected':
        this.onRejected(ack, flight);
        break;
    }
    this.pump();
  }

  private onDeferral(ack: Ack, flight: Flight, now: number): void {
    this.stats.deferrals++;
    if (ack.deferred) {
      this.stats.deferredEvents += ack.deferred.to - ack.deferred.from + 1;
      this.stats.deferredResent += Math.max(0, Math.min(ack.deferred.to, flight.resentTo) - ack.deferred.from + 1);
    }
    const progressed = (ack.accepted ?? 0) > 0;
    if (ack.reason === 'batch_cap') {
      // A size limit, not a capacity problem: learn it so the next batches fit, and go on at once.
      const fit = (ack.accepted ?? 0) + (ack.duplicates ?? 0);
      if (fit > 0) this.learnedCap = Math.min(this.learnedCap, fit);
      this.notBefore = Math.max(this.notBefore, now + (ack.retryAfterMs ?? 0));
    } else {
      if (ack.reason === undefined || CAPACITY_REASONS.has(ack.reason)) {
        if (this.control.onPressure(now, ack.accepted)) this.stats.rateCuts++;
        this.bucket.setRate(this.control.rate, now);
      }
      // Progress resets the backoff; repeated deferrals without progress grow it. Never below retryAfterMs.
      if (progressed) this.attempt = 0;
      const delay = retryDelay(this.attempt, this.settings.backoff, this.random, ack.retryAfterMs ?? 0);
      if (!progressed) this.attempt++;
      this.notBefore = Math.max(this.notBefore, now + delay);
    }
    // The credit of a deferral holds for when the bridge asked the device to come back.
    if (this.credit) this.credit.at = Math.max(this.credit.at, this.notBefore);
    // Resend the deferred tail only; batches sent after this one are now out of order, forget them.
    this.clearFlights();
    this.resumeFromWatermark();
  }

  /** A rejected batch can never succeed unchanged: it is a bug in the device. Log it, drop it, count it. */
  private onRejected(ack: Ack, flight: Flight): void {
    this.stats.rejectedBatches++;
    const dropFrom = Math.max(flight.from, this.wm + 1);
    const dropped = Math.max(0, flight.to - dropFrom + 1);
    this.stats.rejectedEvents += dropped;
    this.log.error({ device: this.device, tenant: this.tenant, batchId: ack.batchId, from: flight.from, to: flight.to, error: ack.error }, 'batch rejected: dropping it (a device bug)');
    this.droppedThrough = Math.max(this.droppedThrough, flight.to);
    this.buffer.trimThrough(this.droppedThrough);
    this.clearFlights();
    this.resumeFromWatermark();
  }

  private advanceWatermark(wm: number): void {
    if (wm > this.wm) {
      this.wm = wm;
      this.buffer.trimThrough(wm);
      if (this.sendFrom <= wm) this.sendFrom = wm + 1;
    } else if (wm < this.wm) {
      // The contract says a watermark never decreases; keep ours, and say so.
      this.log.warn({ device: this.device, reported: wm, known: this.wm }, 'watermark went backwards; ignored');
    }
  }

  private resumeFromWatermark(): void {
    this.sendFrom = Math.max(this.wm, this.droppedThrough) + 1;
  }

  private clearFlights(): void {
    for (const f of this.inFlight.values()) this.clock.clearTimer(f.timer);
    this.inFlight.clear();
  }

  private onAckTimeout(batchId: string): void {
    if (!this.inFlight.has(batchId)) return;
    this.stats.ackTimeouts++;
    this.log.debug({ device: this.device, batchId }, 'ack timeout; syncing');
    this.clearFlights();
    this.credit = null;
    // Do not resend blindly: part of the batch may be durable. Ask for the watermark, resume above it,
    // and back off as for any failure.
    this.notBefore = Math.max(this.notBefore, this.clock.now() + retryDelay(this.attempt++, this.settings.backoff, this.random));
    this.session.resync();
  }

  // ---- sending -------------------------------------------------------------------------------

  private pump(): void {
    if (this.session.state !== 'ready') return;
    while (this.inFlight.size < this.settings.maxInFlight) {
      const now = this.clock.now();
      if (this.sendFrom < this.buffer.firstSeq) this.sendFrom = this.buffer.firstSeq;
      const plan = planBatch({
        now,
        sendFrom: this.sendFrom,
        available: this.buffer.countFrom(this.sendFrom),
        highestSent: this.highestSent,
        notBefore: this.notBefore,
        window: this.control.window,
        limit: Math.min(this.learnedCap, this.settings.batch.max, this.bucket.burst),
        credit: this.credit,
        creditTtlMs: this.settings.creditTtlMs,
        lingerMs: this.settings.batch.lingerMs,
        queuedAt: this.buffer.queuedAtOf(this.sendFrom),
        budget: { available: this.budget.available(now), waitMs: (n) => this.budget.waitMs(n, now), minBurst: this.settings.retryBudget.minBurst },
        maxWaitMs: this.settings.backoff.maxMs,
      });
      if (plan === null) return;
      if ('waitUntil' in plan) {
        if (plan.why === 'budget') this.stats.budgetWaits++;
        return this.wakeAt_(plan.waitUntil);
      }
      if (!this.bucket.tryTake(plan.send, now)) return this.wakeAt_(now + this.bucket.waitMs(plan.send, now));
      this.send(plan.send, now, plan.invited);
    }
  }

  private send(n: number, now: number, invited: number): void {
    const events = this.buffer.slice(this.sendFrom, n);
    const from = events[0]!.seq;
    const to = events[events.length - 1]!.seq;
    const retried = Math.max(0, Math.min(to, this.highestSent) - from + 1);
    const fresh = events.length - retried;
    const charged = Math.max(0, retried - invited);
    if (charged > 0) this.budget.tryWithdraw(charged, now);
    if (fresh > 0) this.budget.recordFresh(fresh);
    this.highestSent = Math.max(this.highestSent, to);
    this.stats.batchesSent++;
    this.stats.eventsSent += events.length;
    this.stats.freshSent += fresh;
    this.stats.retriedSent += retried;
    if (this.credit) this.credit.value = Math.max(0, this.credit.value - events.length);

    const batchId = `b${this.session.connectionEpoch.toString(36)}-${(++this.batchCounter).toString(36)}`;
    const timer = this.clock.setTimer(this.settings.ackTimeoutMs, () => this.onAckTimeout(batchId));
    this.inFlight.set(batchId, { from, to, resentTo: from + retried - 1, charged, timer });
    this.sendFrom = to + 1;
    this.session.publishBatch(JSON.stringify({ batchId, events }));
  }

  /** One wake-up timer per device: the earliest time pump() may make progress. */
  private wakeAt_(at: number): void {
    if (this.wakeTimer && at >= this.wakeAt) return;
    if (this.wakeTimer) this.clock.clearTimer(this.wakeTimer);
    this.wakeAt = at;
    this.wakeTimer = this.clock.setTimer(Math.max(0, at - this.clock.now()), () => {
      this.wakeTimer = null;
      this.wakeAt = Infinity;
      this.pump();
    });
  }
}
