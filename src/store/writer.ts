// The idempotent writer: one store job (one device's accepted range) → DynamoDB, exactly once in effect.
// Read first (reads do not spend the write envelope), write only what is missing, paced; throttles slow the
// writer down and are retried here, in this one layer (the SDK client makes a single attempt).
// In-flight requests are never aborted on shutdown (a put that reached DynamoDB is harmless to repeat); only the
// waits between them are.
import { BatchGetItemCommand, BatchWriteItemCommand, type DynamoDBClient, type WriteRequest } from '@aws-sdk/client-dynamodb';
import type { Logger } from 'pino';
import { fullJitterBackoff } from '../delivery/backoff.js';
import type { EventsJob } from '../queue/jobs.js';
import { classifyStoreError } from './classify-error.js';
import { eventItem, itemKey, partitionKey, SORT_KEY, writeUnits, type Item } from './item.js';
import { HotspotTracker, type StoreMetrics } from './metrics.js';
import { abortableSleep, type WritePacer } from './pacer.js';

/** BatchGetItem takes at most 100 keys per call (DynamoDB API reference). */
export const BATCH_GET_MAX_KEYS = 100;

export interface PendingItem {
  seq: number;
  item: Item;
  units: number;
}

/**
 * Pure: splits items into BatchWriteItem calls of at most `maxItems` items and `maxUnits` write units, in order.
 * An item larger than `maxUnits` travels alone.
 */
export function chunkForWrite(items: PendingItem[], maxItems: number, maxUnits: number): PendingItem[][] {
  const out: PendingItem[][] = [];
  let cur: PendingItem[] = [];
  let units = 0;
  for (const it of items) {
    if (cur.length > 0 && (cur.length >= maxItems || units + it.units > maxUnits)) {
      out.push(cur);
      cur = [];
      units = 0;
    }
    cur.push(it);
    units += it.units;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

export interface PreparedJob {
  tenant: string;
  device: string;
  pk: string;
  items: PendingItem[];
  units: number;
}

export interface WriteJobResult {
  /** Events in the job (after removing repeated seqs inside it). */
  events: number;
  written: number;
  duplicates: number;
  /** Write units of all the job's items (written or not): the job's weight in the backlog estimate. */
  units: number;
  throttles: number;
}

export interface ThrottleReporter {
  /** Called once per throttled request; lowers the shared pacing rate. */
  throttled(): Promise<number>;
}

export interface IdempotentWriterOptions {
  client: DynamoDBClient;
  table: string;
  pacer: WritePacer;
  rateFactor: ThrottleReporter;
  batchWriteMaxItems: number;
  backoff: { baseMs: number; maxMs: number };
  metrics: StoreMetrics;
  log: Logger;
  random?: () => number;
}

/** The writer's knobs that a config reload may change. */
export type WriterLimits = Pick<IdempotentWriterOptions, 'batchWriteMaxItems' | 'backoff'>;

export class IdempotentWriter {
  private readonly hotspots = new HotspotTracker();
  private readonly o: IdempotentWriterOptions;

  constructor(o: IdempotentWriterOptions) {
    // A copy: setLimits changes it, never the caller's object.
    this.o = { ...o };
  }

  get limits(): WriterLimits {
    return { batchWriteMaxItems: this.o.batchWriteMaxItems, backoff: { ...this.o.backoff } };
  }

  /** New call size and backoff (a config reload): the next call and the next backoff use them. */
  setLimits(l: WriterLimits): void {
    if (!(Number.isInteger(l.batchWriteMaxItems) && l.batchWriteMaxItems >= 1)) throw new RangeError(`batchWriteMaxItems must be an integer ≥ 1, got ${l.batchWriteMaxItems}`);
    if (!(l.backoff.baseMs >= 1 && l.backoff.maxMs >= l.backoff.baseMs)) throw new RangeError(`backoff needs 1 ≤ baseMs ≤ maxMs, got ${JSON.stringify(l.backoff)}`);
    this.o.batchWriteMaxItems = l.batchWriteMaxItems;
    this.o.backoff = { ...l.backoff };
  }

  /** Pure part of a job: its partition, its items (one per seq, in seq order) and their write units. */
  static prepare(job: EventsJob): PreparedJob {
    const bySeq = new Map<number, PendingItem>();
    for (const ev of job.events) {
      // The first occurrence wins, as in the contract: the same identity is the same fact.
      if (bySeq.has(ev.seq)) continue;
      const item = eventItem(job.tenant, job.device, job.acceptedAt, ev);
      bySeq.set(ev.seq, { seq: ev.seq, item, units: writeUnits(item) });
    }
    const items = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
    return { tenant: job.tenant, device: job.device, pk: partitionKey(job.tenant, job.device), items, units: items.reduce((s, i) => s + i.units, 0) };
  }

  writeJob(job: EventsJob, signal?: AbortSignal): Promise<WriteJobResult> {
    return this.write(IdempotentWriter.prepare(job), signal);
  }

  async write(job: PreparedJob, signal?: AbortSignal): Promise<WriteJobResult> {
    const present = await this.presentSeqs(job.tenant, job.device, job.items.map((i) => i.seq), signal);
    const missing = job.items.filter((i) => !present.has(i.seq));
    const duplicates = job.items.length - missing.length;
    if (duplicates > 0) this.o.metrics.duplicatesSuppressed.inc(duplicates);
    const throttles = await this.writeMissing(job.pk, missing, signal);
    return { events: job.items.length, written: missing.length, duplicates, units: job.units, throttles };
  }

  /** Seqs of the job already stored. Strongly consistent: a put acknowledged by a killed run must be seen. */
  private async presentSeqs(tenant: string, device: string, seqs: number[], signal?: AbortSignal): Promise<Set<number>> {
    const present = new Set<number>();
    for (let i = 0; i < seqs.length; i += BATCH_GET_MAX_KEYS) {
      let keys = seqs.slice(i, i + BATCH_GET_MAX_KEYS).map((s) => itemKey(tenant, device, s));
      for (let attempt = 0; keys.length > 0; attempt++) {
        signal?.throwIfAborted();
        let res;
        try {
          res = await this.o.client.send(
            new BatchGetItemCommand({
              RequestItems: { [this.o.table]: { Keys: keys, ConsistentRead: true, ProjectionExpression: SORT_KEY } },
            }),
          );
        } catch (err) {
          // A read throttle says nothing about the write envelope: back off, do not lower the pacing rate.
          if (classifyStoreError(err) !== 'throttled') throw err;
          await this.backoff(attempt, signal);
          continue;
        }
        for (const it of res.Responses?.[this.o.table] ?? []) {
          const n = it[SORT_KEY]?.N;
          if (n !== undefined) present.add(Number(n));
        }
        keys = res.UnprocessedKeys?.[this.o.table]?.Keys ?? [];
        if (keys.length > 0) await this.backoff(attempt, signal);
      }
    }
    return present;
  }

  /** Paced BatchWriteItem calls until every item is processed; returns the throttled requests seen. */
  private async writeMissing(pk: string, missing: PendingItem[], signal?: AbortSignal): Promise<number> {
    const { pacer, metrics, table } = this.o;
    let pending = missing;
    let throttles = 0;
    let attempt = 0;
    while (pending.length > 0) {
      const [call] = chunkForWrite(pending, this.o.batchWriteMaxItems, pacer.limits.maxCallUnits);
      const rest = pending.slice(call!.length);
      const callUnits = call!.reduce((s, i) => s + i.units, 0);
      const { waitedMs } = await pacer.acquire(pk, callUnits, signal);
      if (waitedMs > 0) metrics.pacingWait.inc(waitedMs / 1000);

      const requests: WriteRequest[] = call!.map((i) => ({ PutRequest: { Item: i.item } }));
      const endTimer = metrics.batchWriteDuration.startTimer();
      let unprocessed: PendingItem[];
      try {
        const res = await this.o.client.send(new BatchWriteItemCommand({ RequestItems: { [table]: requests } }));
        endTimer();
        const back = new Set((res.UnprocessedItems?.[table] ?? []).map((w) => w.PutRequest?.Item?.[SORT_KEY]?.N));
        unprocessed = call!.filter((i) => back.has(String(i.seq)));
      } catch (err) {
        endTimer();
        if (classifyStoreError(err) !== 'throttled') throw err;
        throttles++;
        await this.onThrottle(pk, 'exception');
        pending = [...call!, ...rest];
        await this.backoff(attempt++, signal);
        continue;
      }
      const done = call!.length - unprocessed.length;
      if (done > 0) {
        metrics.itemsWritten.inc(done);
        metrics.writeUnits.inc(callUnits - unprocessed.reduce((s, i) => s + i.units, 0));
      }
      pending = [...unprocessed, ...rest];
      if (unprocessed.length > 0) {
        // DynamoDB returns UnprocessedItems when the table or a partition is over its capacity: the same signal
        // as a throttling exception, for part of the batch. The unprocessed items pay for new tokens: the
        // envelope bounds what is sent, and their first tokens were spent on a request DynamoDB refused.
        throttles++;
        await this.onThrottle(pk, 'unprocessed');
        await this.backoff(attempt++, signal);
      } else {
        attempt = 0;
      }
    }
    return throttles;
  }

  private async onThrottle(pk: string, kind: 'exception' | 'unprocessed'): Promise<void> {
    this.o.metrics.throttledRequests.inc({ kind });
    if (this.hotspots.note(pk, Date.now())) this.o.metrics.hotspotPartitionSeconds.inc();
    try {
      this.o.metrics.rateFactor.set(await this.o.rateFactor.throttled());
    } catch (err) {
      // Losing Redis here only means this throttle does not lower the shared rate; the backoff still applies.
      this.o.log.warn({ err }, 'could not report a throttle to the shared rate factor');
    }
  }

  private backoff(attempt: number, signal?: AbortSignal): Promise<void> {
    const { baseMs, maxMs } = this.o.backoff;
    return abortableSleep(fullJitterBackoff(attempt, baseMs, maxMs, this.o.random), signal);
  }
}
