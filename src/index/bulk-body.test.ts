import { describe, expect, it } from 'vitest';
import { bulkBody, nextBulkLength, splitIntoBulks, type BulkCaps } from './bulk-body.js';
import { eventDocument, prepareDoc } from './event-document.js';

const sized = (...bytes: number[]) => bytes.map((b, i) => ({ i, bytes: b }));

describe('splitIntoBulks', () => {
  const cases: Array<{ name: string; bytes: number[]; caps: BulkCaps; bulks: number[][]; oversized?: number[] }> = [
    { name: 'nothing', bytes: [], caps: { maxDocs: 3, maxBytes: 100 }, bulks: [] },
    { name: 'one bulk when under both caps', bytes: [10, 10, 10], caps: { maxDocs: 3, maxBytes: 100 }, bulks: [[0, 1, 2]] },
    { name: 'split by maxDocs', bytes: [1, 1, 1, 1, 1, 1, 1], caps: { maxDocs: 3, maxBytes: 100 }, bulks: [[0, 1, 2], [3, 4, 5], [6]] },
    { name: 'split by maxBytes', bytes: [40, 40, 40, 40], caps: { maxDocs: 10, maxBytes: 100 }, bulks: [[0, 1], [2, 3]] },
    { name: 'exactly maxBytes fits', bytes: [50, 50, 1], caps: { maxDocs: 10, maxBytes: 100 }, bulks: [[0, 1], [2]] },
    { name: 'one item of exactly maxBytes goes alone', bytes: [1, 100, 1], caps: { maxDocs: 10, maxBytes: 100 }, bulks: [[0], [1], [2]] },
    { name: 'order is kept across caps', bytes: [90, 5, 5, 5, 90], caps: { maxDocs: 2, maxBytes: 100 }, bulks: [[0, 1], [2, 3], [4]] },
    { name: 'an item larger than maxBytes is set apart', bytes: [10, 101, 10], caps: { maxDocs: 10, maxBytes: 100 }, bulks: [[0, 2]], oversized: [1] },
    { name: 'maxDocs 1', bytes: [1, 2, 3], caps: { maxDocs: 1, maxBytes: 100 }, bulks: [[0], [1], [2]] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { bulks, oversized } = splitIntoBulks(sized(...c.bytes), c.caps);
      expect(bulks.map((b) => b.map((x) => x.i))).toEqual(c.bulks);
      expect(oversized.map((x) => x.i)).toEqual(c.oversized ?? []);
      for (const b of bulks) {
        expect(b.length).toBeLessThanOrEqual(c.caps.maxDocs);
        expect(b.reduce((s, x) => s + x.bytes, 0)).toBeLessThanOrEqual(c.caps.maxBytes);
      }
    });
  }

  it('nextBulkLength starts where asked', () => {
    expect(nextBulkLength(sized(5, 5, 5, 5), { maxDocs: 2, maxBytes: 100 }, 3)).toBe(1);
    expect(nextBulkLength(sized(5), { maxDocs: 2, maxBytes: 100 }, 1)).toBe(0);
  });
});

describe('prepareDoc', () => {
  const doc = eventDocument(
    { tenant: 'acme', device: 'scale-1', acceptedAt: 1_764_806_400_500 },
    { seq: 601, ts: 1_764_806_400_000, type: 'weight', data: { grams: 4120, note: 'crème brûlée' } },
  );

  it('builds a create action with the contract _id and the contract fields', () => {
    const p = prepareDoc('device-events', doc);
    expect(p.id).toBe('acme:scale-1:601');
    const lines = p.ndjson.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('');
    expect(JSON.parse(lines[0]!)).toEqual({ create: { _index: 'device-events', _id: 'acme:scale-1:601' } });
    expect(JSON.parse(lines[1]!)).toEqual({
      tenant: 'acme', device: 'scale-1', seq: 601, ts: 1_764_806_400_000, type: 'weight',
      data: { grams: 4120, note: 'crème brûlée' }, acceptedAt: 1_764_806_400_500,
    });
  });

  it('counts bytes in UTF-8, not characters', () => {
    const p = prepareDoc('device-events', doc);
    expect(p.bytes).toBe(Buffer.byteLength(p.ndjson));
    expect(p.bytes).toBeGreaterThan(p.ndjson.length);
  });

  it('a bulk body is the concatenation, its size the sum', () => {
    const a = prepareDoc('i', doc);
    const b = prepareDoc('i', { ...doc, seq: 602 });
    const body = bulkBody([a, b]);
    expect(Buffer.byteLength(body)).toBe(a.bytes + b.bytes);
    expect(body.endsWith('\n')).toBe(true);
  });
});
