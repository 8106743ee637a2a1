// The edge's view of everything downstream of it, refreshed from Redis every `pressurePollMs`
// (never per batch: a storm of batches must not turn into a storm of Redis reads).
import type { Redis } from 'ioredis';
import type { SharedKeys, SearchPressure, StoragePressure } from '../queue/keys.js';

export interface PressureSnapshot {
  queueDepth: number;
  /** Events per second leaving the queue into storage (EWMA), or the fallback before any is measured. */
  drainPerSec: number;
  storageBacklogMs: number;
  searchLagMs: number;
  searchBreaker: SearchPressure['breaker'];
  /** When the snapshot was taken (epoch ms). */
  at: number;
}

function parseJson<T>(raw: string | null | undefined): T | null {
  if (raw == null) return null;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return null;
  }
}

export class PressureMonitor {
  private snapshot: PressureSnapshot;
  private timer: NodeJS.Timeout | null = null;
  private lastStored: { count: number; at: number; depth: number } | null = null;
  private drainEwma: number | null = null;

  /**
   * @param fallbackDrainPerSec used until a drain has been measured (the storage envelope in events/s
   *   is the best prior: the writers cannot drain faster than it).
   */
  constructor(
    private readonly redis: Redis,
    private readonly keys: SharedKeys,
    private fallbackDrainPerSec: number,
    private pollMs: number,
  ) {
    this.snapshot = { queueDepth: 0, drainPerSec: fallbackDrainPerSec, storageBacklogMs: 0, searchLagMs: 0, searchBreaker: 'closed', at: 0 };
  }

  current(): PressureSnapshot {
    return this.snapshot;
  }

  async start(): Promise<void> {
    await this.poll();
    this.schedule();
  }

  reconfigure(fallbackDrainPerSec: number, pollMs: number): void {
    this.fallbackDrainPerSec = fallbackDrainPerSec;
    this.pollMs = pollMs;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.poll()
        .catch(() => undefined) // Redis briefly away: keep the last snapshot; readiness reports the outage.
        .finally(() => {
          if (this.timer) this.schedule();
        });
    }, this.pollMs);
    this.timer.unref();
  }

  async poll(): Promise<PressureSnapshot> {
    const k = this.keys;
    const [depth, stored, storage, search] = await this.redis.mget(k.depthEvents, k.storedEvents, k.storagePressure, k.searchPressure);
    const now = Date.now();
    const storedCount = Number(stored ?? 0);
    const queueDepth = Math.max(0, Number(depth ?? 0));
    if (this.lastStored && now > this.lastStored.at) {
      const rate = ((storedCount - this.lastStored.count) * 1000) / (now - this.lastStored.at);
      // Only an interval in which the queue never ran dry measures what the writers can drain;
      // a trickle of events drains at the trickle's rate, which says nothing about capacity.
      if (rate > 0 && this.lastStored.depth > 0 && queueDepth > 0) this.drainEwma = this.drainEwma === null ? rate : 0.7 * this.drainEwma + 0.3 * rate;
    }
    this.lastStored = { count: storedCount, at: now, depth: queueDepth };
    const sp = parseJson<StoragePressure>(storage);
    const se = parseJson<SearchPressure>(search);
    this.snapshot = {
      queueDepth,
      drainPerSec: this.drainEwma ?? this.fallbackDrainPerSec,
      storageBacklogMs: sp?.backlogMs ?? 0,
      searchLagMs: se?.lagMs ?? 0,
      searchBreaker: se?.breaker ?? 'closed',
      at: now,
    };
    return this.snapshot;
  }
}
