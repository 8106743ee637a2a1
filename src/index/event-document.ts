// The OpenSearch document of one event, and its line pair in a bulk body.
// Contract ("Stored shape"): every document carries tenant, device, seq, ts, type, data, and its _id is
// eventId(tenant, device, seq), so that the same event indexed twice is one document.
import { eventId } from '../contract/identity.js';
import type { DeviceEvent } from '../contract/wire.js';
import type { EventsJob } from '../queue/jobs.js';

export interface EventDocument {
  tenant: string;
  device: string;
  seq: number;
  /** Device clock, epoch ms. */
  ts: number;
  type: string;
  data: Record<string, unknown>;
  /** Epoch ms at which the edge accepted the event (lets an operator measure end-to-end lag per document). */
  acceptedAt: number;
}

/** One document ready for a bulk body: its `_id` and its two NDJSON lines, with their exact byte size. */
export interface PreparedDoc {
  id: string;
  /** `{"create":{…}}\n{source}\n` */
  ndjson: string;
  /** UTF-8 bytes of `ndjson`: what it adds to a bulk request body. */
  bytes: number;
}

export function eventDocument(job: Pick<EventsJob, 'tenant' | 'device' | 'acceptedAt'>, e: DeviceEvent): EventDocument {
  return { tenant: job.tenant, device: job.device, seq: e.seq, ts: e.ts, type: e.type, data: e.data, acceptedAt: job.acceptedAt };
}

/**
 * `create`, not `index`: a document that already exists is a cheap 409 no-op instead of a rewrite, so a
 * redelivered job (retry, stalled job, overlapping ranges) costs no new segment data and is counted as a
 * suppressed duplicate.
 */
export function prepareDoc(index: string, doc: EventDocument): PreparedDoc {
  const id = eventId(doc.tenant, doc.device, doc.seq);
  const ndjson = `${JSON.stringify({ create: { _index: index, _id: id } })}\n${JSON.stringify(doc)}\n`;
  return { id, ndjson, bytes: Buffer.byteLength(ndjson, 'utf8') };
}
