// The contract at the edge: one batch in, one ack out. The steps, in order:
//   validate → read watermark → suppress duplicates → admission → enqueue (durable in Redis)
//   → advance watermark → ack.
// The ack is published only after the accepted events are in Redis and the watermark covers them,
// so a watermark a device has seen is always backed by stored or queued events.
import type { Ack, DeviceEvent } from '../contract/wire.js';
import { validateBatch } from '../contract/validate-batch.js';
import type { BridgeConfig } from '../config/schema.js';
import { capBeforeBuckets, finalize, type AdmissionInputs, type BucketGrant, type Cap, type Decision } from '../admission/decide.js';
import { effectiveLimits } from '../admission/limits.js';
import { spreadRetryAfter } from '../admission/retry-after.js';
import type { RedisTokenBuckets, BucketSpec } from '../admission/token-bucket.js';
import type { PressureMonitor } from '../admission/pressure.js';
import type { SharedKeys } from '../queue/keys.js';
import type { EventsJob } from '../queue/jobs.js';
import { addRange, resumeBound, settleRanges, type Watermarks } from './watermarks.js';
import type { EdgeMetrics } from './edge-metrics.js';
import type { Logger } from '../telemetry/logger.js';

export interface BatchHandlerDeps {
  config: () => BridgeConfig;
  watermarks: Watermarks;
  buckets: RedisTokenBuckets;
  keys: SharedKeys;
  pressure: PressureMonitor;
  metrics: EdgeMetrics;
  /** Makes the job durable in Redis; resolves only once it is. */
  enqueue: (job: EventsJob) => Promise<void>;
  publishAck: (tenant: string, device: string, ack: Ack) => Promise<void>;
  log: Logger;
  /** Called after the watermark advanced and before the ack is published (crash tests). */
  beforeAck?: (ack: Ack) => void;
  random?: () => number;
}

export class BatchHandler {
  private readonly chains = new Map<string, Promise<void>>();
  private inFlight = 0;
  private readonly inFlightByTenant = new Map<string, number>();
  private meanBatchMs = 5;
  /** `tenant/device` → when the device was first deferred, until an ack leaves nothing deferred. */
  private readonly backlogSince = new Map<string, number>();
  /** tenant → deferral reason → when it was last sent (for the admin view of a tenant). */
  private readonly lastReasons = new Map<string, Map<string, number>>();

  constructor(private readonly deps: BatchHandlerDeps) {}

  /** Batches being handled, this instance. */
  get inFlightBatches(): number {
    return this.inFlight;
  }

  inFlightOf(tenant: string): number {
    return this.inFlightByTenant.get(tenant) ?? 0;
  }

  /** Deferral reasons sent to devices of `tenant` within the last `windowMs`, with when each was last sent. */
  recentReasons(tenant: string, windowMs = 10_000): Record<string, string> {
    const out: Record<string, string> = {};
    const now = Date.now();
    for (const [reason, at] of this.lastReasons.get(tenant) ?? []) if (now - at <= windowMs) out[reason] = new Date(at).toISOString();
    return out;
  }

  /** Resolves when every batch received so far has been acked (graceful shutdown). */
  async drain(): Promise<void> {
    while (this.chains.size > 0) await Promise.allSettled([...this.chains.values()]);
  }

  /** Handles a batch; batches of one device are handled in arrival order. */
  onBatch(tenant: string, device: string, payload: Buffer): Promise<void> {
    return this.serialize(tenant, device, () => this.handleBatch(tenant, device, payload));
  }

  onSync(tenant: string, device: string): Promise<void> {
    return this.serialize(tenant, device, async () => {
      const watermark = await this.deps.watermarks.get(tenant, device);
      await this.send(tenant, device, { status: 'sync', watermark }, Date.now());
    });
  }

  private serialize(tenant: string, device: string, work: () => Promise<void>): Promise<void> {
    const key = `${tenant}/${device}`;
    // Counted on arrival, so that a storm queued behind one device still counts as in flight.
    this.inFlight++;
    this.inFlightByTenant.set(tenant, (this.inFlightByTenant.get(tenant) ?? 0) + 1);
    this.deps.metrics.inFlight.set(this.inFlight);
    const prev = this.chains.get(key) ?? Promise.resolve();
    const run = prev
      .then(work)
      .catch((err: unknown) => this.deps.log.error({ err, tenant, device }, 'batch handling failed; no ack sent, the device will sync'))
      .finally(() => {
        this.inFlight--;
        const left = (this.inFlightByTenant.get(tenant) ?? 1) - 1;
        if (left === 0) this.inFlightByTenant.delete(tenant);
        else this.inFlightByTenant.set(tenant, left);
        this.deps.metrics.inFlight.set(this.inFlight);
        if (this.chains.get(key) === run) this.chains.delete(key);
      });
    this.chains.set(key, run);
    return run;
  }

  private trackBacklog(key: string, ack: Ack, at: number): void {
    if (ack.status === 'partial' || ack.status === 'deferred') {
      if (!this.backlogSince.has(key)) this.backlogSince.set(key, at);
    } else if (ack.status === 'accepted') {
      const since = this.backlogSince.get(key);
      if (since !== undefined) {
        this.backlogSince.delete(key);
        this.deps.metrics.backlogCompletionSeconds.observe((Date.now() - since) / 1000);
      }
    }
  }

  private async handleBatch(tenant: string, device: string, payload: Buffer): Promise<void> {
    const started = Date.now();
    const cfg = this.deps.config();
    const v = validateBatch(payload, cfg.limits);
    if (!v.ok) {
      const watermark = await this.deps.watermarks.get(tenant, device);
      const ack: Ack = { status: 'rejected', watermark, error: { code: v.code, message: v.message } };
      if (v.batchId !== undefined) ack.batchId = v.batchId;
      this.deps.metrics.countEvents(tenant, 'rejected', 1);
      return this.send(tenant, device, ack, started);
    }
    const { batchId, events } = v.batch;
    const progress = await this.deps.watermarks.read(tenant, device);
    const watermarkBefore = progress.watermark;
    const contract = cfg.admission.mode === 'contract';

    // Duplicates: seq is strictly increasing in a batch, so they are a prefix. The reactive
    // profile has no watermark resume and passes them on for storage to suppress.
    let dupCount = 0;
    if (contract) while (dupCount < events.length && events[dupCount]!.seq <= watermarkBefore) dupCount++;
    const fresh = events.slice(dupCount);

    // A batch that starts above an outstanding deferred range would let the watermark jump over
    // events never stored: nothing of it is accepted until the device resends from the watermark.
    const ranges = contract ? progress.outstanding : [];
    const skipsDeferred = fresh.length > 0 && fresh[0]!.seq > resumeBound(ranges);
    const decision: Decision & { credit?: number } = skipsDeferred
      ? { accept: 0, reason: ranges[0]!.reason, baseRetryMs: cfg.admission.retryAfter.minMs }
      : await this.admit(cfg, tenant, device, fresh.length);
    const accepted = fresh.slice(0, decision.accept);
    const deferred = fresh.slice(decision.accept);

    let watermark = watermarkBefore;
    if (accepted.length > 0) await this.deps.enqueue({ tenant, device, events: accepted, acceptedAt: Date.now() });
    const advanceTo = accepted.length > 0 ? accepted[accepted.length - 1]!.seq : 0;
    if (contract) {
      let next = settleRanges(ranges, Math.max(watermarkBefore, advanceTo));
      if (deferred.length > 0) next = addRange(next, { from: deferred[0]!.seq, to: deferred[deferred.length - 1]!.seq, reason: decision.reason ?? 'overloaded' });
      const changed = JSON.stringify(next) !== JSON.stringify(ranges);
      if (advanceTo > 0 || changed) watermark = await this.deps.watermarks.commit(tenant, device, advanceTo, changed ? next : undefined);
    } else if (advanceTo > 0) {
      watermark = await this.deps.watermarks.commit(tenant, device, advanceTo);
    }

    this.deps.metrics.countEvents(tenant, 'duplicate', dupCount);
    this.deps.metrics.countEvents(tenant, 'new', accepted.length);
    this.deps.metrics.countEvents(tenant, 'deferred', deferred.length);

    const ack = this.buildAck(cfg, batchId, watermark, accepted, deferred, dupCount, decision);
    this.deps.beforeAck?.(ack);
    await this.send(tenant, device, ack, started);
  }

  private async admit(cfg: BridgeConfig, tenant: string, device: string, n: number): Promise<Decision & { credit?: number }> {
    const adm = cfg.admission;
    const limits = effectiveLimits(adm, tenant);
    const p = this.deps.pressure.current();
    const contract = adm.mode === 'contract';
    const inputs: AdmissionInputs = {
      newEvents: n,
      // The reactive profile takes a batch whole or not at all: it has no per-batch cap.
      maxAcceptPerBatch: contract ? adm.maxAcceptPerBatch : Number.MAX_SAFE_INTEGER,
      inFlight: {
        global: this.inFlight,
        globalMax: adm.maxInFlightBatches,
        tenant: this.inFlightOf(tenant),
        tenantMax: limits.tenant.maxInFlightBatches,
        meanBatchMs: this.meanBatchMs,
      },
      queue: { depth: p.queueDepth, highWater: adm.queue.highWaterEvents, max: adm.queue.maxEvents, drainPerSec: p.drainPerSec },
      downstream: {
        storageBacklogMs: p.storageBacklogMs,
        storageMaxMs: adm.storageBacklogMaxMs,
        searchLagMs: p.searchLagMs,
        searchBoundMs: cfg.opensearch.lagBoundMs,
      },
    };
    const cap: Cap = capBeforeBuckets(inputs);
    if (!contract && cap.limit < n) return { accept: 0, reason: cap.reason ?? 'overloaded', baseRetryMs: 0 };

    const buckets: BucketSpec[] = [
      { key: this.deps.keys.deviceBucket(tenant, device), ...limits.device },
      { key: this.deps.keys.tenantBucket(tenant), ratePerSec: limits.tenant.ratePerSec, burst: limits.tenant.burst },
    ];
    let grant: BucketGrant = { granted: 0, binding: null, waitMs: 0 };
    let credit: number | undefined;
    if (cap.limit > 0) {
      const t = await this.deps.buckets.take(buckets, cap.limit, !contract);
      grant = { granted: t.granted, binding: t.binding === 0 ? 'device' : t.binding === 1 ? 'tenant' : null, waitMs: t.waitMs };
      const decision = finalize(cap, grant);
      // credit: what the buckets will hold when the device may come back, within the batch cap.
      // (Shrinking it further by the queue's share was measured to slow a contract fleet's drain:
      // devices then send small batches while the queue drains below its high-water.)
      const backInMs = decision.baseRetryMs;
      const level = Math.min(...buckets.map((b, i) => Math.min(b.burst, (t.remaining[i] ?? 0) + (b.ratePerSec * backInMs) / 1000)));
      credit = Math.max(0, Math.min(adm.maxAcceptPerBatch, Math.floor(level)));
      return { ...decision, credit };
    }
    return finalize(cap, grant);
  }

  private buildAck(
    cfg: BridgeConfig,
    batchId: string,
    watermark: number,
    accepted: DeviceEvent[],
    deferred: DeviceEvent[],
    duplicates: number,
    decision: Decision & { credit?: number },
  ): Ack {
    const status = deferred.length === 0 ? 'accepted' : accepted.length > 0 ? 'partial' : 'deferred';
    const ack: Ack = { batchId, status, watermark, accepted: accepted.length, duplicates };
    if (deferred.length > 0) {
      const ra = cfg.admission.retryAfter;
      ack.deferred = { from: deferred[0]!.seq, to: deferred[deferred.length - 1]!.seq };
      ack.reason = decision.reason ?? 'overloaded';
      if (cfg.admission.mode !== 'contract') ack.retryAfterMs = ra.fixedMs;
      else if (decision.reason === 'batch_cap') ack.retryAfterMs = 0;
      else ack.retryAfterMs = spreadRetryAfter(decision.baseRetryMs, ra, this.deps.random);
      this.deps.metrics.retryAfterSeconds.observe({ reason: ack.reason }, ack.retryAfterMs / 1000);
    }
    if (decision.credit !== undefined && cfg.admission.mode === 'contract') ack.credit = decision.credit;
    return ack;
  }

  private async send(tenant: string, device: string, ack: Ack, started: number): Promise<void> {
    await this.deps.publishAck(tenant, device, ack);
    this.trackBacklog(`${tenant}/${device}`, ack, started);
    if (ack.reason) {
      let reasons = this.lastReasons.get(tenant);
      if (!reasons) this.lastReasons.set(tenant, (reasons = new Map()));
      reasons.set(ack.reason, Date.now());
    }
    const ms = Date.now() - started;
    this.meanBatchMs = 0.9 * this.meanBatchMs + 0.1 * ms;
    this.deps.metrics.acks.inc({ status: ack.status, reason: ack.reason ?? '' });
    this.deps.metrics.admissionSeconds.observe({ status: ack.status }, ms / 1000);
  }
}
