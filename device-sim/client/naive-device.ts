// A naive device, kept to show what the contract prevents. It is modelled on firmware seen in the
// field: after a reconnect it replays "the last N minutes" because it cannot tell what arrived,
// pushes its whole backlog at once as parallel batches, resends a whole batch after a short fixed
// delay on any deferral or missing ack, reconnects after a fixed delay (no jitter), and ignores
// retryAfterMs and the watermark. Do not copy it into device code.
import { decodeAck, type Ack, type DeviceEvent } from '../../src/contract/wire.js';
import { topicFor } from '../../src/contract/topics.js';
import { systemClock, type Clock, type Timer } from './clock.js';
import { emptyStats, type AckObserver, type DeviceStats, type SimDevice } from './device-stats.js';
import { silentLog, type CloseInfo, type Connection, type Connector, type DeviceLog } from './transport.js';

export interface NaiveClientSettings {
  /** On every (re)connect, events whose ts is within this window are sent again, delivered or not. */
  replayWindowMs: number;
  /** Events per batch; the backlog goes out as many such batches at once. */
  batchSize: number;
  /** Fixed delay before a whole batch is resent after a deferral or an ack timeout (retryAfterMs is ignored). */
  retryDelayMs: number;
  ackTimeoutMs: number;
  /** Fixed delay before reconnecting; every device refused together comes back together. */
  reconnectDelayMs: number;
  /** New events are sent every this many ms while connected. */
  flushIntervalMs: number;
}

export const NAIVE_DEFAULTS: NaiveClientSettings = {
  replayWindowMs: 10 * 60_000,
  batchSize: 500,
  retryDelayMs: 1_000,
  ackTimeoutMs: 5_000,
  reconnectDelayMs: 1_000,
  flushIntervalMs: 1_000,
};

export interface NaiveDeviceOptions {
  tenant: string;
  device: string;
  connector: Connector;
  client?: Partial<NaiveClientSettings>;
  firstSeq?: number;
  clock?: Clock;
  log?: DeviceLog;
  onAck?: AckObserver;
}

interface Entry {
  ev: DeviceEvent;
  /** This device saw an `accepted` ack for a batch holding the event. */
  confirmed: boolean;
}

interface Outstanding {
  events: DeviceEvent[];
  timer: Timer | null;
  /** Events of the batch that had been sent before (for the deferredResent figure). */
  resent?: Set<number>;
}

export class NaiveDevice implements SimDevice {
  readonly tenant: string;
  readonly device: string;
  readonly settings: Readonly<NaiveClientSettings>;
  readonly stats: DeviceStats = emptyStats();

  private readonly clock: Clock;
  private readonly log: DeviceLog;
  private readonly connector: Connector;
  private readonly onAckObserver: AckObserver | undefined;
  private readonly topics: { batch: string; ack: string };
  private entries: Entry[] = [];
  private nextSeq: number;
  private highestSent = 0;
  /** seq of the first event not yet sent on the current connection. */
  private unsentFrom: number;
  private readonly outstanding = new Map<string, Outstanding>();
  private batchCounter = 0;
  private connection: Connection | null = null;
  private online = false;
  private stopped = false;
  private epoch = 0;
  private wm = 0;
  private flushTimer: Timer | null = null;
  private reconnectTimer: Timer | null = null;

  constructor(opts: NaiveDeviceOptions) {
    this.tenant = opts.tenant;
    this.device = opts.device;
    this.settings = Object.freeze({ ...NAIVE_DEFAULTS, ...opts.client });
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silentLog;
    this.connector = opts.connector;
    this.onAckObserver = opts.onAck;
    this.nextSeq = opts.firstSeq ?? 1;
    this.unsentFrom = this.nextSeq;
    this.topics = { batch: topicFor(this.tenant, this.device, 'batch'), ack: topicFor(this.tenant, this.device, 'ack') };
  }

  /** The highest watermark seen in an ack (tracked for the fleet's report; the naive logic ignores it). */
  get watermark(): number {
    return this.wm;
  }

  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** Events not yet confirmed by an `accepted` ack. */
  get unconfirmed(): number {
    return this.entries.reduce((n, e) => n + (e.confirmed ? 0 : 1), 0);
  }

  enqueue(type: string, data: Record<string, unknown>, ts = this.clock.now()): void {
    this.entries.push({ ev: { seq: this.nextSeq++, ts, type, data }, confirmed: false });
    this.stats.eventsCreated++;
  }

  /** Connects (again after stop()). */
  start(): void {
    if (this.connection || this.reconnectTimer) return;
    this.stopped = false;
    this.connect();
  }

  /** Disconnects and stays offline until start(); events are kept. */
  stop(): void {
    this.stopped = true;
    this.epoch++;
    this.goOffline();
    if (this.reconnectTimer) this.clock.clearTimer(this.reconnectTimer);
    this.reconnectTimer = null;
    this.connection?.end();
    this.connection = null;
  }

  private connect(): void {
    this.reconnectTimer = null;
    if (this.stopped) return;
    const epoch = ++this.epoch;
    this.stats.connectAttempts++;
    this.connection = this.connector({
      onConnect: () => epoch === this.epoch && this.onConnect(epoch),
      onMessage: (topic, payload) => epoch === this.epoch && this.onMessage(topic, payload),
      onClose: (info) => epoch === this.epoch && this.onClose(info),
    });
  }

  private onConnect(epoch: number): void {
    this.stats.connects++;
    this.connection?.subscribe(this.topics.ack, (err) => {
      if (epoch !== this.epoch || err) return;
      this.online = true;
      this.replay();
      this.flushTimer = this.clock.setTimer(this.settings.flushIntervalMs, () => this.flushTick());
    });
  }

  private onClose(info: CloseInfo): void {
    this.connection = null;
    this.goOffline();
    if (info.connected) this.stats.connectionsLost++;
    else if (info.refusedCode === 3) this.stats.connectRefused++;
    else this.stats.connectFailed++;
    if (!this.stopped) this.reconnectTimer = this.clock.setTimer(this.settings.reconnectDelayMs, () => this.connect());
  }

  private goOffline(): void {
    this.online = false;
    for (const o of this.outstanding.values()) if (o.timer) this.clock.clearTimer(o.timer);
    this.outstanding.clear();
    if (this.flushTimer) this.clock.clearTimer(this.flushTimer);
    this.flushTimer = null;
  }

  /** Everything in the replay window, plus everything never confirmed, as parallel batches. */
  private replay(): void {
    this.prune();
    const since = this.clock.now() - this.settings.replayWindowMs;
    const events = this.entries.filter((e) => !e.confirmed || e.ev.ts >= since).map((e) => e.ev);
    this.unsentFrom = this.nextSeq;
    this.sendAll(events);
  }

  private flushTick(): void {
    this.flushTimer = null;
    if (!this.online) return;
    const first = this.entries[0]?.ev.seq ?? this.nextSeq;
    const fresh = this.entries.slice(Math.max(0, this.unsentFrom - first)).map((e) => e.ev);
    this.unsentFrom = this.nextSeq;
    this.sendAll(fresh);
    this.flushTimer = this.clock.setTimer(this.settings.flushIntervalMs, () => this.flushTick());
  }

  private sendAll(events: DeviceEvent[]): void {
    for (let i = 0; i < events.length; i += this.settings.batchSize) this.sendBatch(events.slice(i, i + this.settings.batchSize));
  }

  private sendBatch(events: DeviceEvent[]): void {
    if (!this.online || !this.connection || events.length === 0) return;
    const batchId = `n${this.epoch.toString(36)}-${(++this.batchCounter).toString(36)}`;
    const last = events[events.length - 1]!.seq;
    const resent = new Set(events.filter((e) => e.seq <= this.highestSent).map((e) => e.seq));
    const retried = resent.size;
    this.highestSent = Math.max(this.highestSent, last);
    this.stats.batchesSent++;
    this.stats.eventsSent += events.length;
    this.stats.retriedSent += retried;
    this.stats.freshSent += events.length - retried;
    const timer = this.clock.setTimer(this.settings.ackTimeoutMs, () => {
      const o = this.outstanding.get(batchId);
      if (!o) return;
      this.stats.ackTimeouts++;
      o.timer = null;
      this.resendLater(batchId, o);
    });
    this.outstanding.set(batchId, { events, timer, resent });
    this.connection.publish(this.topics.batch, JSON.stringify({ batchId, events }));
  }

  /** The whole batch again, after the fixed delay. */
  private resendLater(batchId: string, o: Outstanding): void {
    this.outstanding.set(batchId, { events: o.events, timer: null });
    const epoch = this.epoch;
    this.clock.setTimer(this.settings.retryDelayMs, () => {
      if (epoch !== this.epoch || !this.outstanding.has(batchId)) return;
      this.outstanding.delete(batchId);
      this.sendBatch(o.events);
    });
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic !== this.topics.ack) return;
    let ack: Ack;
    try {
      ack = decodeAck(payload);
    } catch {
      this.stats.malformedAcks++;
      return;
    }
    this.onAckObserver?.(ack, this.clock.now());
    if (ack.watermark > this.wm) this.wm = ack.watermark;
    const o = ack.batchId === undefined ? undefined : this.outstanding.get(ack.batchId);
    if (!o || !o.timer) return;
    this.clock.clearTimer(o.timer);
    this.stats.acks++;
    this.stats.acceptedReported += ack.accepted ?? 0;
    this.stats.duplicatesReported += ack.duplicates ?? 0;
    switch (ack.status) {
      case 'accepted':
        this.outstanding.delete(ack.batchId!);
        this.confirm(o.events);
        break;
      case 'partial':
      case 'deferred':
        this.stats.deferrals++;
        if (ack.deferred) {
          this.stats.deferredEvents += ack.deferred.to - ack.deferred.from + 1;
          for (const seq of o.resent ?? []) if (seq >= ack.deferred.from && seq <= ack.deferred.to) this.stats.deferredResent++;
        }
        this.resendLater(ack.batchId!, o);
        break;
      case 'rejected':
        this.outstanding.delete(ack.batchId!);
        this.stats.rejectedBatches++;
        this.stats.rejectedEvents += o.events.length;
        this.log.error({ device: this.device, error: ack.error }, 'batch rejected');
        this.confirm(o.events);
        break;
      case 'sync':
        break;
    }
  }

  private confirm(events: DeviceEvent[]): void {
    const first = this.entries[0]?.ev.seq;
    if (first === undefined) return;
    for (const ev of events) {
      const e = this.entries[ev.seq - first];
      if (e) e.confirmed = true;
    }
    this.prune();
  }

  /** Forgets confirmed events older than the replay window (the device's memory of what it sent). */
  private prune(): void {
    const since = this.clock.now() - this.settings.replayWindowMs;
    let i = 0;
    while (i < this.entries.length && this.entries[i]!.confirmed && this.entries[i]!.ev.ts < since) i++;
    if (i > 0) this.entries = this.entries.slice(i);
  }
}
