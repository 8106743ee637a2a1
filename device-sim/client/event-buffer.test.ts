import { describe, expect, it } from 'vitest';
import { EventBuffer } from './event-buffer.js';

describe('EventBuffer', () => {
  it('assigns consecutive seqs from firstSeq and slices from any seq', () => {
    const b = new EventBuffer(601);
    for (let i = 0; i < 150; i++) b.push('t', { i }, 1000 + i, 0);
    expect(b.lastSeq).toBe(750);
    expect(b.slice(691, 5).map((e) => e.seq)).toEqual([691, 692, 693, 694, 695]);
    expect(b.countFrom(700)).toBe(51);
    expect(b.countFrom(1)).toBe(150);
    b.trimThrough(690);
    expect(b.size).toBe(60);
    expect(b.firstSeq).toBe(691);
    expect(b.slice(1, 1)[0]!.seq).toBe(691);
  });
  it('drops the oldest past its capacity and counts them', () => {
    const b = new EventBuffer(1, 3);
    for (let i = 0; i < 5; i++) b.push('t', {}, 0, 0);
    expect(b.size).toBe(3);
    expect(b.firstSeq).toBe(3);
    expect(b.overflowDropped).toBe(2);
  });
  it('stays consistent across compaction', () => {
    const b = new EventBuffer(1);
    for (let i = 0; i < 5000; i++) b.push('t', {}, 0, i);
    b.trimThrough(4000);
    b.push('t', {}, 0, 0);
    expect(b.firstSeq).toBe(4001);
    expect(b.slice(4999, 3).map((e) => e.seq)).toEqual([4999, 5000, 5001]);
    expect(b.queuedAtOf(4001)).toBe(4000);
  });
});
