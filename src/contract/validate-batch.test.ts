import { describe, expect, it } from 'vitest';
import { validateBatch } from './validate-batch.js';

const limits = { maxEventsPerBatch: 3, maxEventBytes: 64, maxPayloadBytes: 1024 };
const ev = (seq: number, data: object = { g: 1 }) => ({ seq, ts: 1, type: 'weight', data });
const json = (o: unknown) => Buffer.from(JSON.stringify(o));

describe('validateBatch', () => {
  it.each([
    ['not JSON', Buffer.from('{nope'), 'invalid_json', undefined],
    ['broken JSON with a readable batchId', Buffer.from('{"batchId": "b0", "events": ['), 'invalid_json', 'b0'],
    ['a JSON array', json([1]), 'invalid_batch', undefined],
    ['no events', json({ batchId: 'b1', events: [] }), 'invalid_batch', 'b1'],
    ['batchId too long', json({ batchId: 'x'.repeat(65), events: [ev(1)] }), 'invalid_batch', 'x'.repeat(64)],
    ['seq zero', json({ batchId: 'b2', events: [ev(0)] }), 'invalid_batch', 'b2'],
    ['seq not an integer', json({ batchId: 'b3', events: [{ ...ev(1), seq: 1.5 }] }), 'invalid_batch', 'b3'],
    ['unknown event field', json({ batchId: 'b4', events: [{ ...ev(1), extra: 1 }] }), 'invalid_batch', 'b4'],
    ['data not an object', json({ batchId: 'b5', events: [{ ...ev(1), data: [1] }] }), 'invalid_batch', 'b5'],
    ['seq repeats', json({ batchId: 'b6', events: [ev(1), ev(1)] }), 'seq_not_increasing', 'b6'],
    ['seq decreases', json({ batchId: 'b7', events: [ev(5), ev(4)] }), 'seq_not_increasing', 'b7'],
    ['too many events', json({ batchId: 'b8', events: [ev(1), ev(2), ev(3), ev(4)] }), 'too_many_events', 'b8'],
    ['event data too large', json({ batchId: 'b9', events: [ev(1, { s: 'x'.repeat(100) })] }), 'event_too_large', 'b9'],
    ['payload too large', Buffer.alloc(1025, 0x20), 'payload_too_large', undefined],
  ])('%s → %s', (_name, payload, code, batchId) => {
    const v = validateBatch(payload, limits);
    expect(v.ok).toBe(false);
    if (!v.ok) {
      expect(v.code).toBe(code);
      expect(v.batchId).toBe(batchId);
      expect(v.message.length).toBeGreaterThan(0);
    }
  });

  it('accepts a valid batch', () => {
    const v = validateBatch(json({ batchId: 'ok', events: [ev(601), ev(602)] }), limits);
    expect(v).toEqual({ ok: true, batch: { batchId: 'ok', events: [ev(601), ev(602)] } });
  });
});
