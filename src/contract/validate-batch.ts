import { batchSchema, type Batch, type RejectCode } from './wire.js';

export interface BatchLimits {
  maxEventsPerBatch: number;
  maxEventBytes: number;
  maxPayloadBytes: number;
}

export type BatchValidation =
  | { ok: true; batch: Batch }
  | { ok: false; code: RejectCode; message: string; batchId?: string };

function reject(code: RejectCode, message: string, batchId?: string): BatchValidation {
  return batchId === undefined ? { ok: false, code, message } : { ok: false, code, message, batchId };
}

/**
 * Validates a batch payload against the contract and the configured limits.
 * Pure: no I/O. The checks run cheapest first so that an oversized payload is never parsed.
 */
export function validateBatch(payload: Buffer, limits: BatchLimits): BatchValidation {
  if (payload.length > limits.maxPayloadBytes) {
    return reject('payload_too_large', `payload is ${payload.length} bytes; limits.maxPayloadBytes is ${limits.maxPayloadBytes}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    // Best effort: echo a batchId we can still read, so the device can tell which batch was refused.
    const id = /"batchId"\s*:\s*"([^"\\]{1,64})"/.exec(payload.toString('utf8', 0, Math.min(payload.length, 4096)))?.[1];
    return reject('invalid_json', `payload is not JSON: ${(err as Error).message}`, id);
  }
  const batchId =
    typeof raw === 'object' && raw !== null && typeof (raw as { batchId?: unknown }).batchId === 'string'
      ? ((raw as { batchId: string }).batchId.slice(0, 64))
      : undefined;

  // Count before the full schema so that a huge array is refused with the precise code.
  const events = typeof raw === 'object' && raw !== null ? (raw as { events?: unknown }).events : undefined;
  if (Array.isArray(events) && events.length > limits.maxEventsPerBatch) {
    return reject('too_many_events', `batch has ${events.length} events; limits.maxEventsPerBatch is ${limits.maxEventsPerBatch}`, batchId);
  }

  const parsed = batchSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : 'batch';
    return reject('invalid_batch', `${where}: ${issue?.message ?? 'invalid'}`, batchId);
  }
  const batch = parsed.data;

  let prev = 0;
  for (let i = 0; i < batch.events.length; i++) {
    const ev = batch.events[i]!;
    const size = Buffer.byteLength(JSON.stringify(ev.data));
    if (size > limits.maxEventBytes) {
      return reject('event_too_large', `events.${i}.data is ${size} bytes; limits.maxEventBytes is ${limits.maxEventBytes}`, batch.batchId);
    }
    if (ev.seq <= prev) {
      return reject('seq_not_increasing', `events.${i}.seq ${ev.seq} is not greater than the previous seq ${prev}`, batch.batchId);
    }
    prev = ev.seq;
  }
  return { ok: true, batch };
}
