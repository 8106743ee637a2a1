import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type EventOutcome = 'new' | 'duplicate' | 'deferred' | 'rejected';

/** The edge's metrics: what devices sent, what they were told, and the cost of deciding it. */
export class EdgeMetrics {
  readonly eventsReceived: Counter<'tenant' | 'outcome'>;
  readonly acks: Counter<'status' | 'reason'>;
  readonly inFlight: Gauge;
  readonly connects: Counter<'outcome'>;
  readonly admissionSeconds: Histogram<'status'>;
  readonly publishRefused: Counter<'reason'>;
  readonly retryAfterSeconds: Histogram<'reason'>;
  readonly backlogCompletionSeconds: Histogram;
  readonly queueDepth: Gauge;
  readonly drainRate: Gauge;
  private received = 0;
  private acceptedNew = 0;
  private deferred = 0;
  private duplicates = 0;
  private readonly byTenant = new Map<string, Record<EventOutcome, number>>();

  constructor(registry: Registry, pressure: () => { queueDepth: number; drainPerSec: number }) {
    const registers = [registry];
    this.eventsReceived = new Counter({
      name: 'ingest_events_received_total',
      help: 'Events received in batches, by outcome: new (accepted for storage), duplicate (at or below the watermark, suppressed at the edge), deferred, rejected (invalid batch).',
      labelNames: ['tenant', 'outcome'],
      registers,
    });
    this.acks = new Counter({ name: 'ingest_acks_total', help: 'Acks sent, by status and deferral reason.', labelNames: ['status', 'reason'], registers });
    this.inFlight = new Gauge({ name: 'ingest_inflight_batches', help: 'Batches being admitted on this instance.', registers });
    this.connects = new Counter({
      name: 'ingest_connects_total',
      help: 'MQTT CONNECTs by outcome: admitted, refused_rate (CONNACK 3 under a connect storm), refused_auth, refused_protocol.',
      labelNames: ['outcome'],
      registers,
    });
    this.admissionSeconds = new Histogram({
      name: 'ingest_admission_duration_seconds',
      help: 'Time from a batch arriving to its ack being published, by ack status.',
      labelNames: ['status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.publishRefused = new Counter({
      name: 'ingest_publish_refused_total',
      help: 'PUBLISHes refused by closing the connection (MQTT 3.1.1 has no negative PUBACK): topic outside the contract, or not the device\'s own.',
      labelNames: ['reason'],
      registers,
    });
    this.retryAfterSeconds = new Histogram({
      name: 'ingest_retry_after_seconds',
      help: 'retryAfter sent with deferrals, by reason.',
      labelNames: ['reason'],
      buckets: [0, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers,
    });
    this.backlogCompletionSeconds = new Histogram({
      name: 'ingest_backlog_completion_seconds',
      help: 'Time from a device\'s first deferred event to the ack that leaves nothing deferred (how long a reconnecting device takes to drain its backlog).',
      buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800],
      registers,
    });
    const self = this;
    new Gauge({
      name: 'ingest_retry_amplification_ratio',
      help: 'Events received at the edge ÷ unique events accepted, since start (1 = no event was sent twice).',
      registers,
      collect() {
        this.set(self.acceptedNew === 0 ? 0 : self.received / self.acceptedNew);
      },
    });
    new Gauge({
      name: 'ingest_deferral_ratio',
      help: 'Events deferred ÷ events received, since start (the 429-style deferral rate).',
      registers,
      collect() {
        this.set(self.received === 0 ? 0 : self.deferred / self.received);
      },
    });
    this.queueDepth = new Gauge({
      name: 'ingest_queue_depth_events',
      help: 'Events accepted and not yet written to DynamoDB (all instances).',
      registers,
      collect() {
        this.set(pressure().queueDepth);
      },
    });
    this.drainRate = new Gauge({
      name: 'ingest_queue_drain_rate_events_per_second',
      help: 'Measured rate at which the queue drains into DynamoDB (EWMA).',
      registers,
      collect() {
        this.set(pressure().drainPerSec);
      },
    });
  }

  countEvents(tenant: string, outcome: EventOutcome, n: number): void {
    if (n <= 0) return;
    this.eventsReceived.inc({ tenant, outcome }, n);
    let t = this.byTenant.get(tenant);
    if (!t) this.byTenant.set(tenant, (t = { new: 0, duplicate: 0, deferred: 0, rejected: 0 }));
    t[outcome] += n;
    this.received += n;
    if (outcome === 'new') this.acceptedNew += n;
    if (outcome === 'deferred') this.deferred += n;
    if (outcome === 'duplicate') this.duplicates += n;
  }

  totals(): { received: number; acceptedNew: number; deferred: number; duplicates: number } {
    return { received: this.received, acceptedNew: this.acceptedNew, deferred: this.deferred, duplicates: this.duplicates };
  }

  /** Events by outcome for each tenant seen since start. */
  tenants(): Record<string, Record<EventOutcome, number>> {
    return Object.fromEntries(this.byTenant);
  }
}
