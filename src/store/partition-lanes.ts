// In-process scheduling of store jobs. A worker process fetches more jobs than it writes at once (prefetch), and a
// job writes only when it holds both a lane of its partition and a write slot, taken in that order. A job waiting
// for its partition's lane therefore holds no write slot: a device with many queued jobs cannot fill the slots
// with jobs that could only share its partition's rate while every other device waits behind them
// (head-of-line blocking). Pure: no I/O.

function checkWidth(width: number): void {
  if (!(Number.isInteger(width) && width >= 1)) throw new RangeError(`width must be an integer ≥ 1, got ${width}`);
}

/** FIFO counting semaphore with abortable waits and a width that may change while it is in use. */
export class Semaphore {
  private held = 0;
  private w: number;
  private readonly queue: Array<{ resolve: () => void; reject: (e: unknown) => void; signal?: AbortSignal; onAbort?: () => void }> = [];

  constructor(width: number) {
    checkWidth(width);
    this.w = width;
  }

  get width(): number {
    return this.w;
  }

  /**
   * A new width (a config reload). Wider: waiters are served at once. Narrower: holders keep their permits
   * and no waiter is served until fewer than `width` are held.
   */
  resize(width: number): void {
    checkWidth(width);
    this.w = width;
    this.serve();
  }

  get inUse(): number {
    return this.held;
  }

  get waiting(): number {
    return this.queue.length;
  }

  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.held < this.w && this.queue.length === 0) {
      this.held++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const entry: (typeof this.queue)[number] = { resolve, reject, signal };
      if (signal) {
        entry.onAbort = () => {
          const i = this.queue.indexOf(entry);
          if (i >= 0) this.queue.splice(i, 1);
          reject(signal.reason);
        };
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      this.queue.push(entry);
    });
  }

  release(): void {
    if (this.held > 0) this.held--;
    // Served in the same tick: a new acquire() cannot overtake the queue (it sees it non-empty).
    this.serve();
  }

  private serve(): void {
    while (this.held < this.w && this.queue.length > 0) {
      const next = this.queue.shift()!;
      if (next.onAbort) next.signal?.removeEventListener('abort', next.onAbort);
      this.held++;
      next.resolve();
    }
  }
}

/** One semaphore of `width` per partition key, dropped when idle. */
export class PartitionLanes {
  private readonly lanes = new Map<string, Semaphore>();

  constructor(readonly width: number) {}

  async acquire(pk: string, signal?: AbortSignal): Promise<void> {
    let s = this.lanes.get(pk);
    if (!s) {
      s = new Semaphore(this.width);
      this.lanes.set(pk, s);
    }
    try {
      await s.acquire(signal);
    } catch (err) {
      if (s.inUse === 0 && s.waiting === 0) this.lanes.delete(pk);
      throw err;
    }
  }

  release(pk: string): void {
    const s = this.lanes.get(pk);
    if (!s) return;
    s.release();
    if (s.inUse === 0 && s.waiting === 0) this.lanes.delete(pk);
  }

  /** Partitions with a lane held or awaited. */
  get size(): number {
    return this.lanes.size;
  }
}
