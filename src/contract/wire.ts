// Wire schemas of the contract: the only place where batch and ack shapes live.
// Used by the bridge (validation, ack encoding) and by device-sim (ack decoding).
import { z } from 'zod';

export const REJECT_CODES = [
  'invalid_json',
  'invalid_batch',
  'seq_not_increasing',
  'payload_too_large',
  'too_many_events',
  'event_too_large',
] as const;
export type RejectCode = (typeof REJECT_CODES)[number];

export const DEFER_REASONS = [
  'batch_cap',
  'device_rate_limited',
  'tenant_rate_limited',
  'queue_saturated',
  'storage_backpressure',
  'search_backpressure',
  'overloaded',
] as const;
export type DeferReason = (typeof DEFER_REASONS)[number];

export const ACK_STATUSES = ['accepted', 'partial', 'deferred', 'rejected', 'sync'] as const;
export type AckStatus = (typeof ACK_STATUSES)[number];

const seqSchema = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

export const eventSchema = z.strictObject({
  seq: seqSchema,
  ts: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  type: z.string().min(1).max(64),
  data: z.record(z.string(), z.unknown()),
});
export type DeviceEvent = z.infer<typeof eventSchema>;

export const batchSchema = z.strictObject({
  batchId: z.string().min(1).max(64),
  events: z.array(eventSchema).min(1),
});
export type Batch = z.infer<typeof batchSchema>;

export const ackSchema = z.strictObject({
  batchId: z.string().optional(),
  status: z.enum(ACK_STATUSES),
  watermark: z.number().int().nonnegative(),
  accepted: z.number().int().nonnegative().optional(),
  duplicates: z.number().int().nonnegative().optional(),
  deferred: z.strictObject({ from: seqSchema, to: seqSchema }).optional(),
  retryAfterMs: z.number().int().nonnegative().optional(),
  reason: z.enum(DEFER_REASONS).optional(),
  credit: z.number().int().nonnegative().optional(),
  error: z.strictObject({ code: z.enum(REJECT_CODES), message: z.string() }).optional(),
});
export type Ack = z.infer<typeof ackSchema>;

export function encodeAck(ack: Ack): Buffer {
  return Buffer.from(JSON.stringify(ack));
}

/** Decodes an ack received by a device; throws on a malformed ack (a bridge bug, not a device problem). */
export function decodeAck(payload: Buffer | string): Ack {
  return ackSchema.parse(JSON.parse(payload.toString()));
}
