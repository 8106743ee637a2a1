// Samples a running bridge once a second through its admin HTTP (/status.json and /metrics), to
// draw the storm's timeline and to read the per-layer counters at the end of a run.

export interface Sample {
  /** Seconds since the storm (negative before it). */
  t: number;
  at: number;
  received: number;
  acceptedNew: number;
  deferred: number;
  duplicates: number;
  attemptsPerSec: number;
  acceptedPerSec: number;
  queueDepth: number;
  searchLagMs: number;
  storeDuplicates: number;
  indexDuplicates: number;
  hotPartitionSeconds: number;
  index429s: number;
}

/** Sum of every series of a metric family in Prometheus text format. */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) sum += v;
  }
  return sum;
}

interface Status {
  totals: { received: number; acceptedNew: number; deferred: number; duplicates: number };
  pressure: { queueDepth: number; searchLagMs: number };
}

export class Sampler {
  private readonly samples: Omit<Sample, 't'>[] = [];
  private stormAt: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;

  constructor(
    private readonly http: string,
    private readonly intervalMs = 1000,
  ) {}

  async start(): Promise<void> {
    await this.sample();
    this.timer = setInterval(() => {
      this.inFlight ??= this.sample()
        .catch(() => undefined)
        .finally(() => (this.inFlight = null));
    }, this.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.inFlight;
    await this.sample().catch(() => undefined);
  }

  markStorm(at: number): void {
    this.stormAt = at;
  }

  /** Resolves when the latest sample satisfies `done`, or after `timeoutMs`. */
  async waitFor(done: (s: Omit<Sample, 't'>) => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const last = this.samples[this.samples.length - 1];
      if (last && last.at > Date.now() - 2 * this.intervalMs && done(last)) return true;
      await new Promise((r) => setTimeout(r, this.intervalMs / 2));
    }
    return false;
  }

  /** The last sample taken before the storm. */
  atStorm(): Sample | undefined {
    return this.timeline().filter((s) => s.t <= 0).pop();
  }

  timeline(): Sample[] {
    const storm = this.stormAt ?? this.samples[0]?.at ?? 0;
    return this.samples.map((s) => ({ ...s, t: (s.at - storm) / 1000 }));
  }

  private async sample(): Promise<void> {
    const [status, metrics] = await Promise.all([
      fetch(`${this.http}/status.json`).then((r) => r.json() as Promise<Status>),
      fetch(`${this.http}/metrics`).then((r) => r.text()),
    ]);
    const at = Date.now();
    const prev = this.samples[this.samples.length - 1];
    const dt = prev ? (at - prev.at) / 1000 : 1;
    const t = status.totals;
    this.samples.push({
      at,
      received: t.received,
      acceptedNew: t.acceptedNew,
      deferred: t.deferred,
      duplicates: t.duplicates,
      attemptsPerSec: prev ? (t.received - prev.received) / dt : 0,
      acceptedPerSec: prev ? (t.acceptedNew - prev.acceptedNew) / dt : 0,
      queueDepth: status.pressure.queueDepth,
      searchLagMs: status.pressure.searchLagMs,
      storeDuplicates: metricSum(metrics, 'ingest_store_duplicates_suppressed_total'),
      indexDuplicates: metricSum(metrics, 'ingest_index_duplicates_suppressed_total'),
      hotPartitionSeconds: metricSum(metrics, 'ingest_store_hotspot_partition_seconds_total'),
      index429s: metricSum(metrics, 'ingest_index_throttled_total'),
    });
  }
}
