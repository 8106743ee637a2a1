// The jobs that carry accepted events from the edge to storage, and from storage to search.
// One job per accepted batch prefix (never one per event: each job costs several Redis round trips).
import type { DeviceEvent } from '../contract/wire.js';

export const STORE_QUEUE = 'store';
export const INDEX_QUEUE = 'index';

export interface EventsJob {
  tenant: string;
  device: string;
  /** The accepted events, `seq` strictly increasing. */
  events: DeviceEvent[];
  /** Epoch ms at which the edge accepted them (the start of storage and indexing lag). */
  acceptedAt: number;
}

/**
 * Deterministic job id: the same accepted range enqueued twice (a retried enqueue, a crash between
 * enqueue and watermark) is one job. BullMQ ids may not contain ':' so the separator is '|'.
 */
export function eventsJobId(kind: 'store' | 'index', job: Pick<EventsJob, 'tenant' | 'device' | 'events'>): string {
  const first = job.events[0]?.seq ?? 0;
  const last = job.events[job.events.length - 1]?.seq ?? 0;
  return `${kind}|${job.tenant}|${job.device}|${first}-${last}`;
}
