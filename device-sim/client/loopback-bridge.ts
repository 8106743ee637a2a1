// An in-memory stand-in for the bridge's edge, speaking the contract through the Connector port, for
// unit tests of device code (ours and yours). It keeps the contract's promises in their simplest
// form: per-device watermark, a per-batch cap, a per-device token bucket, partial acceptance of a
// prefix, retryAfterMs from the bucket's refill, duplicates at or below the watermark, credit.
// It is not the bridge: no queue, no storage, no fairness across tenants.
import { topicFor, parseTopic } from '../../src/contract/topics.js';
import { validateBatch, type BatchLimits } from '../../src/contract/validate-batch.js';
import { encodeAck, type Ack, type DeferReason } from '../../src/contract/wire.js';
import type { Clock } from './clock.js';
import { LocalTokenBucket } from './token-bucket.js';
import type { Connection, Connector, TransportHandlers } from './transport.js';

export interface LoopbackBridgeOptions {
  clock: Clock;
  limits?: BatchLimits;
  /** Most new events accepted from one batch (batch_cap beyond). */
  maxAcceptPerBatch?: number;
  /** Per-device bucket (device_rate_limited beyond). */
  device?: { ratePerSec: number; burst: number };
  /** Delay of every ack, ms (≥ 1 keeps device code from re-entering itself). */
  ackDelayMs?: number;
  /** Send `credit` in acks. */
  credit?: boolean;
  /** The first this-many connection attempts are refused with CONNACK 3. */
  refuseConnects?: number;
  /** Return false to lose an ack on the way (the events stay accepted). */
  deliverAck?: (ack: Ack, tenant: string, device: string) => boolean;
}

interface DeviceState {
  watermark: number;
  /** First seqs of deferred ranges not yet accepted: nothing above the lowest may be accepted first (see admit). */
  holes: number[];
  bucket: LocalTokenBucket;
  stored: Map<number, number>;
}

export class LoopbackBridge {
  readonly devices = new Map<string, DeviceState>();
  /** Batches received (valid or not). */
  batches = 0;
  connectAttempts = 0;
  private readonly limits: BatchLimits;
  private readonly maxAccept: number;
  private readonly bucketSpec: { ratePerSec: number; burst: number };
  private readonly subs = new Map<string, Set<TransportHandlers>>();

  constructor(private readonly opts: LoopbackBridgeOptions) {
    this.limits = opts.limits ?? { maxEventsPerBatch: 500, maxEventBytes: 8192, maxPayloadBytes: 1_048_576 };
    this.maxAccept = opts.maxAcceptPerBatch ?? 200;
    this.bucketSpec = opts.device ?? { ratePerSec: 50, burst: 500 };
  }

  /** Stored copies per seq of one device (always 1 each here; the real bridge is held to the same). */
  stored(tenant: string, device: string): Map<number, number> {
    return this.state(tenant, device).stored;
  }

  watermark(tenant: string, device: string): number {
    return this.devices.get(`${tenant}/${device}`)?.watermark ?? 0;
  }

  readonly connector: Connector = (handlers) => {
    const clock = this.opts.clock;
    const attempt = ++this.connectAttempts;
    let open = true;
    const refused = attempt <= (this.opts.refuseConnects ?? 0);
    clock.setTimer(1, () => {
      if (!open) return;
      if (refused) {
        open = false;
        handlers.onClose({ connected: false, refusedCode: 3, error: 'Connection refused: Server unavailable' });
      } else {
        handlers.onConnect();
      }
    });
    const conn: Connection = {
      publish: (topic, payload) => {
        if (!open || refused) return;
        clock.setTimer(0, () => open && this.onPublish(topic, Buffer.from(payload)));
      },
      subscribe: (topic, done) => {
        let set = this.subs.get(topic);
        if (!set) this.subs.set(topic, (set = new Set()));
        set.add(handlers);
        clock.setTimer(0, () => done());
      },
      end: () => {
        open = false;
        for (const set of this.subs.values()) set.delete(handlers);
      },
    };
    return conn;
  };

  /** Drops every connection as a broker restart would (clients see a lost connection). */
  dropAll(): void {
    const all = new Set<TransportHandlers>();
    for (const set of this.subs.values()) for (const h of set) all.add(h);
    this.subs.clear();
    for (const h of all) h.onClose({ connected: true, error: 'connection lost' });
  }

  private state(tenant: string, device: string): DeviceState {
    const key = `${tenant}/${device}`;
    let s = this.devices.get(key);
    if (!s) {
      s = { watermark: 0, holes: [], bucket: new LocalTokenBucket(this.bucketSpec.ratePerSec, this.bucketSpec.burst, this.opts.clock.now()), stored: new Map() };
      this.devices.set(key, s);
    }
    return s;
  }

  private onPublish(topic: string, payload: Buffer): void {
    const t = parseTopic(topic);
    if (!t || t.kind === 'ack') return;
    const s = this.state(t.tenant, t.device);
    if (t.kind === 'sync') return this.reply(t.tenant, t.device, { status: 'sync', watermark: s.watermark });
    this.batches++;
    const v = validateBatch(payload, this.limits);
    if (!v.ok) {
      const ack: Ack = { status: 'rejected', watermark: s.watermark, error: { code: v.code, message: v.message } };
      if (v.batchId !== undefined) ack.batchId = v.batchId;
      return this.reply(t.tenant, t.device, ack);
    }
    this.reply(t.tenant, t.device, this.admit(s, v.batch.batchId, v.batch.events));
  }

  private admit(s: DeviceState, batchId: string, events: { seq: number }[]): Ack {
    const now = this.opts.clock.now();
    const fresh = events.filter((e) => e.seq > s.watermark);
    const duplicates = events.length - fresh.length;
    if (fresh.length === 0) return { batchId, status: 'accepted', watermark: s.watermark, accepted: 0, duplicates };
    // Accepting events above a deferred range would move the watermark over events that are not
    // stored (parallel batches of one device, one deferred): defer the whole batch instead. Every
    // deferred range counts, not only the lowest: once the lowest is filled, the next one guards.
    const hole = s.holes.length > 0 ? Math.min(...s.holes) : Infinity;
    const blocked = fresh[0]!.seq > hole;
    const tokens = Math.floor(s.bucket.available(now));
    const take = blocked ? 0 : Math.min(fresh.length, this.maxAccept, tokens);
    s.bucket.tryTake(take, now);
    for (const e of fresh.slice(0, take)) s.stored.set(e.seq, (s.stored.get(e.seq) ?? 0) + 1);
    if (take > 0) s.watermark = fresh[take - 1]!.seq;
    const ack: Ack = { batchId, status: 'accepted', watermark: s.watermark, accepted: take, duplicates };
    if (this.opts.credit ?? true) ack.credit = Math.max(0, Math.min(this.maxAccept, Math.floor(s.bucket.available(now))));
    s.holes = s.holes.filter((h) => h > s.watermark);
    if (take === fresh.length) return ack;
    const rest = fresh.length - take;
    const reason: DeferReason = blocked ? 'overloaded' : take === this.maxAccept ? 'batch_cap' : 'device_rate_limited';
    const from = fresh[take]!.seq;
    if (!s.holes.includes(from)) s.holes.push(from);
    return {
      ...ack,
      status: take > 0 ? 'partial' : 'deferred',
      deferred: { from, to: fresh[fresh.length - 1]!.seq },
      retryAfterMs: reason === 'batch_cap' ? 0 : Math.max(100, s.bucket.waitMs(Math.min(rest, this.maxAccept), now)),
      reason,
    };
  }

  private reply(tenant: string, device: string, ack: Ack): void {
    if (this.opts.deliverAck && !this.opts.deliverAck(ack, tenant, device)) return;
    const topic = topicFor(tenant, device, 'ack');
    const payload = encodeAck(ack);
    this.opts.clock.setTimer(this.opts.ackDelayMs ?? 1, () => {
      for (const h of this.subs.get(topic) ?? []) h.onMessage(topic, payload);
    });
  }
}
