// Refresh widening: while the indexing backlog is high, index.refresh_interval goes from `normal` to
// `wide`, so that OpenSearch spends its time indexing rather than building many small segments that it
// will merge again right away (OpenSearch docs, "Tuning for indexing speed"). Search sees new events
// later meanwhile, which is the trade we want while catching up. Hysteresis: widen above
// widenAtBacklog documents, restore below half of it, so that a backlog hovering at the threshold does
// not flip the setting on every poll.
import type { Client } from '@opensearch-project/opensearch';
import type { Logger } from 'pino';

export type RefreshMode = 'normal' | 'wide';

/** `current` null: not known yet (just started), decide from the backlog alone. */
export function nextRefreshMode(backlogDocs: number, widenAtBacklog: number, current: RefreshMode | null): RefreshMode {
  if (backlogDocs > widenAtBacklog) return 'wide';
  if (backlogDocs < widenAtBacklog / 2) return 'normal';
  return current ?? 'normal';
}

export interface RefreshWidenerOptions {
  client: Client;
  index: string;
  normal: string;
  wide: string;
  widenAtBacklog: number;
  log: Logger;
  onApplied?: (mode: RefreshMode) => void;
  /** Least time between two attempts after a failed one, in ms (default 2000). */
  retryMs?: number;
  now?: () => number;
}

/** The widener's knobs that a config reload may change (opensearch.refreshInterval). */
export type RefreshSettings = Pick<RefreshWidenerOptions, 'normal' | 'wide' | 'widenAtBacklog'>;

export class RefreshWidener {
  private applied: RefreshMode | null = null;
  /** The interval last put, so that a reload changing the interval of the mode in force is applied too. */
  private appliedInterval: string | null = null;
  private busy = false;
  private lastFailureAt = -Infinity;
  private readonly now: () => number;
  /** A copy: reconfigure changes it, never the caller's object. */
  private readonly opts: RefreshWidenerOptions;

  constructor(opts: RefreshWidenerOptions) {
    this.opts = { ...opts };
    this.now = opts.now ?? Date.now;
  }

  get mode(): RefreshMode | null {
    return this.applied;
  }

  get settings(): RefreshSettings {
    return { normal: this.opts.normal, wide: this.opts.wide, widenAtBacklog: this.opts.widenAtBacklog };
  }

  /** New intervals and threshold (a config reload): the next update() decides and applies with them. */
  reconfigure(s: RefreshSettings): void {
    this.opts.normal = s.normal;
    this.opts.wide = s.wide;
    this.opts.widenAtBacklog = s.widenAtBacklog;
  }

  /**
   * Applies the mode the backlog calls for, if it or its interval differs from the applied one. The first call
   * always applies: a bridge that died while the interval was wide must not leave it wide.
   */
  async update(backlogDocs: number): Promise<void> {
    const want = nextRefreshMode(backlogDocs, this.opts.widenAtBacklog, this.applied);
    const interval = want === 'wide' ? this.opts.wide : this.opts.normal;
    if ((want === this.applied && interval === this.appliedInterval) || this.busy) return;
    if (this.now() - this.lastFailureAt < (this.opts.retryMs ?? 2000)) return;
    this.busy = true;
    try {
      await this.opts.client.indices.putSettings({ index: this.opts.index, body: { index: { refresh_interval: interval } } });
      if (this.appliedInterval !== null || want === 'wide') this.opts.log.info({ refreshInterval: interval, backlogDocs }, 'index refresh interval changed');
      this.applied = want;
      this.appliedInterval = interval;
      this.opts.onApplied?.(want);
    } catch (err) {
      this.lastFailureAt = this.now();
      this.opts.log.debug({ err }, 'could not change index.refresh_interval (will try again)');
    } finally {
      this.busy = false;
    }
  }
}
