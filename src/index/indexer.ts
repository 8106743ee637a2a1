// The indexer: gathers the documents of many index jobs into bulk requests, bounded by the bulk caps,
// by the adaptive concurrency limit and by the circuit breaker, and settles each job once every one of
// its documents is indexed, suppressed as a duplicate or permanently refused.
//
// The pipeline, one readable chain: submit(job) → ready queue → pump() packs the next bulk (full, or
// after a short linger) → send (the bulk service port: one request, one network call) → classify
// (bulk-classify.ts: the one classifier) → settle documents, delay retries, feed the limiter and the
// breaker → pump() again.
import type { Logger } from 'pino';
import { AimdLimiter, type Permit } from '../delivery/adaptive-concurrency.js';
import { fullJitterBackoff } from '../delivery/backoff.js';
import { CircuitBreaker } from '../delivery/circuit-breaker.js';
import type { EventsJob } from '../queue/jobs.js';
import { bulkBody, fitsAlone, nextBulkLength, type BulkCaps } from './bulk-body.js';
import { classifyRequestFailure, signalsOfFailure, signalsOfItems, type ItemVerdict, type RequestFailure } from './bulk-classify.js';
import type { BulkAttempt, BulkEnd, IndexerEvents, SendBulk } from './bulk-port.js';
import { eventDocument, prepareDoc, type PreparedDoc } from './event-document.js';

export interface JobOutcome {
  indexed: number;
  duplicates: number;
  /** Documents OpenSearch will never take as sent (logged and counted, not retried). */
  failed: number;
}

export interface IndexerOptions {
  /** Index or alias written to (each action names it). */
  index: string;
  caps: BulkCaps;
  send: SendBulk;
  concurrency: { min: number; max: number; initial: number };
  latencyTargetMs: number;
  breaker: { failureThreshold: number; openMs: number };
  retry: { baseMs: number; maxMs: number };
  /** How long a partial bulk waits for more documents, in ms (default 25). */
  lingerMs?: number;
  /** Jobs the feeder holds at most: with that many open, no more documents can come, so do not linger. */
  jobCapacity?: number;
  log: Logger;
  events?: IndexerEvents;
  random?: () => number;
  now?: () => number;
}

/** The indexer's knobs that a config reload may change (concurrency.initial applies at start only). */
export interface IndexerLimits {
  caps: BulkCaps;
  concurrency: { min: number; max: number };
  latencyTargetMs: number;
  breaker: { failureThreshold: number; openMs: number };
  retry: { baseMs: number; maxMs: number };
  jobCapacity?: number;
}

/** Raised to the jobs still open when the indexer is aborted (shutdown): their documents were not all settled. */
export class IndexerClosedError extends Error {
  constructor() {
    super('indexer closed before the job was settled');
    this.name = 'IndexerClosedError';
  }
}

interface OpenJob {
  acceptedAt: number;
  remaining: number;
  outcome: JobOutcome;
  resolve(o: JobOutcome): void;
  reject(e: Error): void;
}

interface PendingDoc {
  doc: PreparedDoc;
  /** = doc.bytes (the packer reads `bytes`). */
  bytes: number;
  job: OpenJob;
  readyAt: number;
  /** Retries so far (the backoff exponent). */
  attempts: number;
  /** Per-item 5xx answers so far (bounded: see MAX_ITEM_SERVER_ERRORS). */
  serverErrors: number;
}

// A document a shard keeps failing with a 5xx (not a 429) would otherwise hold its job, and with it the
// indexing lag and the edge's search_backpressure, forever. After this many 5xx answers for the same
// document it is counted as permanently failed. Throttling (429) and whole-request failures (outages)
// never exhaust: they are retried until OpenSearch takes the document.
export const MAX_ITEM_SERVER_ERRORS = 10;

export class Indexer {
  readonly limiter: AimdLimiter;
  readonly breaker: CircuitBreaker;
  private ready: PendingDoc[] = [];
  private head = 0;
  private readyBytes = 0;
  private delayed: Array<{ notBefore: number; docs: PendingDoc[] }> = [];
  private openJobs = new Set<OpenJob>();
  private unsettled = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private draining = false;
  private closed = false;
  private drainWaiters: Array<() => void> = [];
  private lastFailure: { failure: RequestFailure; error?: Record<string, unknown> } | null = null;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly lingerMs: number;
  /** A copy: reconfigure changes it, never the caller's object. */
  private readonly opts: IndexerOptions;

  constructor(opts: IndexerOptions) {
    this.opts = { ...opts };
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.lingerMs = opts.lingerMs ?? 25;
    this.limiter = new AimdLimiter({
      ...opts.concurrency,
      latencyTargetMs: opts.latencyTargetMs,
      onChange: (limit, inFlight) => opts.events?.limitChange?.(limit, inFlight),
    });
    this.breaker = new CircuitBreaker({
      ...opts.breaker,
      now: this.now,
      onStateChange: (to, from) => {
        opts.events?.breakerChange?.(to, from);
        // Warn once per outage; failed probes (half-open → open) are routine while it lasts.
        if (to === 'open' && from === 'closed') opts.log.warn({ breaker: to, last: this.lastFailure }, 'opensearch unreachable: indexing paused, jobs wait in the queue');
        else if (to === 'open') opts.log.debug({ breaker: to, last: this.lastFailure }, 'probe failed: opensearch still unreachable');
        if (to === 'closed') {
          opts.log.info({ breaker: to }, 'opensearch answers again: indexing resumed');
          // Documents delayed during the outage waited for OpenSearch, not for a backoff of their own.
          this.releaseDelayed(Infinity);
        }
      },
    });
  }

  get caps(): BulkCaps {
    return { ...this.opts.caps };
  }

  /**
   * Applies new limits (a config reload) to the running indexer: bulks packed from now on follow the new caps,
   * the adaptive limit is clamped into the new bounds, the breaker and the backoff use the new settings.
   * Bulks in flight are not touched. Documents already held that no longer fit a bulk alone are settled as
   * failed, as submit() does with them.
   */
  reconfigure(l: IndexerLimits): void {
    if (!(l.caps.maxDocs >= 1 && l.caps.maxBytes >= 1)) throw new RangeError(`bulk caps must be ≥ 1, got ${JSON.stringify(l.caps)}`);
    if (!(l.retry.baseMs >= 1 && l.retry.maxMs >= l.retry.baseMs)) throw new RangeError(`retry needs 1 ≤ baseMs ≤ maxMs, got ${JSON.stringify(l.retry)}`);
    this.limiter.setBounds(l.concurrency.min, l.concurrency.max);
    this.limiter.setLatencyTarget(l.latencyTargetMs);
    this.breaker.setSettings(l.breaker);
    this.opts.caps = { ...l.caps };
    this.opts.retry = { ...l.retry };
    this.opts.latencyTargetMs = l.latencyTargetMs;
    if (l.jobCapacity !== undefined) this.opts.jobCapacity = l.jobCapacity;
    // A wider limit, a larger cap or a smaller job capacity may let a bulk go now.
    this.pump();
  }

  /** Indexes every event of the job; resolves once each is indexed, suppressed or permanently failed. */
  submit(job: EventsJob): Promise<JobOutcome> {
    if (this.closed) return Promise.reject(new IndexerClosedError());
    return new Promise<JobOutcome>((resolve, reject) => {
      const open: OpenJob = { acceptedAt: job.acceptedAt, remaining: 0, outcome: { indexed: 0, duplicates: 0, failed: 0 }, resolve, reject };
      const t = this.now();
      for (const e of job.events) {
        const doc = prepareDoc(this.opts.index, eventDocument(job, e));
        if (!fitsAlone(doc, this.opts.caps)) {
          open.outcome.failed += 1;
          this.opts.log.error({ id: doc.id, bytes: doc.bytes, maxBytes: this.opts.caps.maxBytes }, 'document larger than opensearch.bulk.maxBytes: not indexed');
          continue;
        }
        open.remaining += 1;
        this.pushReady({ doc, bytes: doc.bytes, job: open, readyAt: t, attempts: 0, serverErrors: 0 });
      }
      if (open.remaining === 0) {
        resolve(open.outcome);
        return;
      }
      this.unsettled += open.remaining;
      this.openJobs.add(open);
      this.pump();
    });
  }

  /** Documents accepted by submit and not yet settled (ready, delayed or in flight). */
  get heldDocs(): number {
    return this.unsettled;
  }

  get heldJobs(): number {
    return this.openJobs.size;
  }

  /** acceptedAt of the oldest job not yet settled, or null. */
  oldestAcceptedAt(): number | null {
    let oldest: number | null = null;
    for (const j of this.openJobs) if (oldest === null || j.acceptedAt < oldest) oldest = j.acceptedAt;
    return oldest;
  }

  /** Stops lingering; resolves when every submitted job is settled. */
  drain(): Promise<void> {
    this.draining = true;
    this.pump();
    if (this.openJobs.size === 0) return Promise.resolve();
    return new Promise((r) => this.drainWaiters.push(r));
  }

  /** Gives up on every open job (they reject with IndexerClosedError); answers still in flight are ignored. */
  abort(): void {
    this.closed = true;
    this.clearTimer();
    this.ready = [];
    this.head = 0;
    this.readyBytes = 0;
    this.delayed = [];
    const err = new IndexerClosedError();
    for (const j of this.openJobs) j.reject(err);
    this.openJobs.clear();
    this.unsettled = 0;
    this.notifyDrained();
  }

  private get readyCount(): number {
    return this.ready.length - this.head;
  }

  private pushReady(p: PendingDoc): void {
    this.ready.push(p);
    this.readyBytes += p.doc.bytes;
  }

  private pump(): void {
    if (this.closed) return;
    const now = this.now();
    this.releaseDelayed(now);
    let wakeAt = Infinity;
    while (this.readyCount > 0) {
      if (this.dropOversizedHead()) continue;
      const lingerUntil = this.ready[this.head]!.readyAt + this.lingerMs;
      if (!this.shouldFlush(now, lingerUntil)) {
        wakeAt = Math.min(wakeAt, lingerUntil);
        break;
      }
      // Order matters: the limiter check has no side effect; the breaker hands out its half-open probe.
      if (!this.limiter.available) break; // a release calls pump()
      if (!this.breaker.tryAcquire()) {
        const wait = this.breaker.msUntilRetry();
        if (wait > 0) wakeAt = Math.min(wakeAt, now + wait);
        break; // half-open with the probe out: its answer calls pump()
      }
      const permit = this.limiter.tryAcquire()!;
      this.sendNext(permit);
    }
    if (this.readyCount === 0 && this.delayed.length > 0 && this.breaker.state === 'half_open') {
      // Probe with documents that wait for a retry rather than wait out their backoff first.
      this.releaseEarliestDelayed();
      if (this.readyCount > 0) {
        queueMicrotask(() => this.pump());
        return;
      }
    }
    for (const d of this.delayed) wakeAt = Math.min(wakeAt, d.notBefore);
    this.armTimer(wakeAt);
  }

  /**
   * A document that fitted the caps it was submitted under and not the current ones (a reload lowered
   * maxBytes) could never be sent: settle it as failed, as submit() would have. The packer stops before
   * such a document, so it always comes to the head before it would be packed.
   */
  private dropOversizedHead(): boolean {
    const d = this.ready[this.head]!;
    if (fitsAlone(d.doc, this.opts.caps)) return false;
    this.head += 1;
    this.readyBytes -= d.doc.bytes;
    this.opts.log.error({ id: d.doc.id, bytes: d.doc.bytes, maxBytes: this.opts.caps.maxBytes }, 'document larger than opensearch.bulk.maxBytes: not indexed');
    this.settle(d, 'failed');
    return true;
  }

  private shouldFlush(now: number, lingerUntil: number): boolean {
    const { maxDocs, maxBytes } = this.opts.caps;
    if (this.readyCount >= maxDocs || this.readyBytes > maxBytes) return true; // a full bulk is ready
    if (this.draining || now >= lingerUntil) return true;
    // The feeder holds as many jobs as it may: nothing more can arrive until one of them settles.
    return this.opts.jobCapacity !== undefined && this.openJobs.size >= this.opts.jobCapacity;
  }

  private sendNext(permit: Permit): void {
    const n = nextBulkLength(this.ready, this.opts.caps, this.head);
    const docs = this.ready.slice(this.head, this.head + n);
    this.head += n;
    let bytes = 0;
    for (const d of docs) bytes += d.doc.bytes;
    this.readyBytes -= bytes;
    if (this.head > 4096 && this.head * 2 > this.ready.length) {
      this.ready = this.ready.slice(this.head);
      this.head = 0;
    }
    this.opts.events?.bulkStart?.({ docs: n, bytes, inFlight: this.limiter.inFlight, limit: this.limiter.limit });
    const body = bulkBody(docs.map((d) => d.doc));
    const started = this.now();
    void this.opts.send(body, n).then(
      (attempt) => this.onAttempt(docs, bytes, permit, started, attempt),
      (error: unknown) => this.onAttempt(docs, bytes, permit, started, { kind: 'failed', failure: { transport: 'connection' }, error: { message: String(error) } }),
    );
  }

  private onAttempt(docs: PendingDoc[], bytes: number, permit: Permit, started: number, attempt: BulkAttempt): void {
    const latencyMs = this.now() - started;
    const end: BulkEnd = { docs: docs.length, bytes, latencyMs, result: attempt.kind, throttledItems: 0, requestThrottled: false, indexed: 0, duplicates: 0, retried: 0, failed: 0 };
    if (attempt.kind === 'answered') {
      const signals = signalsOfItems(attempt.items);
      this.limiter.release(permit, signals.limiter, latencyMs);
      this.breaker.recordSuccess();
      if (!this.closed) this.settleItems(docs, attempt.items, end);
    } else {
      const signals = signalsOfFailure(attempt.failure);
      this.lastFailure = { failure: attempt.failure, error: attempt.error };
      this.limiter.release(permit, signals.limiter, latencyMs);
      if (signals.breaker === 'failure') this.breaker.recordFailure();
      else this.breaker.recordSuccess();
      if (!this.closed) this.settleFailure(docs, attempt, end);
    }
    this.opts.events?.bulkEnd?.(end);
    this.pump();
  }

  private settleItems(docs: PendingDoc[], items: ItemVerdict[], end: BulkEnd): void {
    const retry: PendingDoc[] = [];
    let firstPermanent: { id: string; verdict: ItemVerdict } | null = null;
    for (let i = 0; i < docs.length; i++) {
      const d = docs[i]!;
      const v = items[i]!;
      if (v.kind === 'ok') {
        end.indexed += 1;
        this.settle(d, 'indexed');
      } else if (v.kind === 'duplicate') {
        end.duplicates += 1;
        this.settle(d, 'duplicates');
      } else if (v.kind === 'retry' && (v.throttled || d.serverErrors + 1 < MAX_ITEM_SERVER_ERRORS)) {
        if (v.throttled) end.throttledItems += 1;
        else d.serverErrors += 1;
        retry.push(d);
      } else {
        firstPermanent ??= { id: d.doc.id, verdict: v };
        end.failed += 1;
        this.settle(d, 'failed');
      }
    }
    if (firstPermanent) {
      this.opts.log.warn({ failed: end.failed, first: firstPermanent.id, verdict: firstPermanent.verdict }, 'documents refused by opensearch: not retried');
    }
    end.retried = retry.length;
    if (retry.length > 0) this.delay(retry);
  }

  private settleFailure(docs: PendingDoc[], attempt: Extract<BulkAttempt, { kind: 'failed' }>, end: BulkEnd): void {
    const verdict = classifyRequestFailure(attempt.failure);
    if (verdict.kind === 'retry') {
      end.requestThrottled = verdict.throttled;
      end.retried = docs.length;
      this.opts.log.debug({ failure: attempt.failure, docs: docs.length, error: attempt.error }, 'bulk request failed: will retry its documents');
      this.delay(docs);
      return;
    }
    end.failed = docs.length;
    this.opts.log.error({ status: verdict.status, docs: docs.length, error: attempt.error }, 'bulk request refused as a whole: its documents are not indexed');
    for (const d of docs) this.settle(d, 'failed');
  }

  /** One backoff for the whole group, so that the documents come back together and fill a bulk again. */
  private delay(docs: PendingDoc[]): void {
    let attempt = 0;
    for (const d of docs) attempt = Math.max(attempt, d.attempts++);
    const wait = fullJitterBackoff(attempt, this.opts.retry.baseMs, this.opts.retry.maxMs, this.random);
    this.delayed.push({ notBefore: this.now() + wait, docs });
  }

  private releaseDelayed(upTo: number): void {
    if (this.delayed.length === 0) return;
    const keep: typeof this.delayed = [];
    const t = this.now();
    for (const g of this.delayed) {
      if (g.notBefore <= upTo) for (const d of g.docs) this.pushReady({ ...d, readyAt: t });
      else keep.push(g);
    }
    this.delayed = keep;
  }

  private releaseEarliestDelayed(): void {
    let best = -1;
    for (let i = 0; i < this.delayed.length; i++) if (best < 0 || this.delayed[i]!.notBefore < this.delayed[best]!.notBefore) best = i;
    if (best < 0) return;
    const [g] = this.delayed.splice(best, 1);
    const t = this.now();
    for (const d of g!.docs) this.pushReady({ ...d, readyAt: t - this.lingerMs });
  }

  private settle(d: PendingDoc, as: keyof JobOutcome): void {
    const j = d.job;
    j.outcome[as] += 1;
    j.remaining -= 1;
    this.unsettled -= 1;
    if (j.remaining === 0 && this.openJobs.delete(j)) {
      j.resolve(j.outcome);
      if (this.openJobs.size === 0) this.notifyDrained();
    }
  }

  private notifyDrained(): void {
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const r of w) r();
  }

  private armTimer(at: number): void {
    if (at === Infinity) return;
    if (this.timer && this.timerAt <= at) return;
    this.clearTimer();
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.pump();
    }, Math.max(0, at - this.now()));
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }
}
