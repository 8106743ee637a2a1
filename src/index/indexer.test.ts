// The indexer's scheduling core against a scripted bulk port (our own port, not an OpenSearch API:
// the real node is exercised in test/index*.test.ts). Covers what a real node cannot produce on demand.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { EventsJob } from '../queue/jobs.js';
import type { ItemVerdict, RequestFailure } from './bulk-classify.js';
import type { BulkAttempt, BulkStart } from './bulk-port.js';
import { Indexer, IndexerClosedError, MAX_ITEM_SERVER_ERRORS, type IndexerLimits, type IndexerOptions } from './indexer.js';

const log = pino({ level: 'silent' });
const ids = (body: string) => body.split('\n').filter((_, i) => i % 2 === 0 && _ !== '').map((l) => (JSON.parse(l) as { create: { _id: string } }).create._id);
const job = (device: string, from: number, to: number): EventsJob => ({
  tenant: 't',
  device,
  acceptedAt: 1,
  events: Array.from({ length: to - from + 1 }, (_, i) => ({ seq: from + i, ts: 1, type: 'x', data: { v: from + i } })),
});
const ok: ItemVerdict = { kind: 'ok' };

/** A port that answers each bulk through `answer(ids, call)` after `delayMs`, and records what it saw. */
function port(answer: (ids: string[], call: number) => BulkAttempt, delayMs = 1) {
  const calls: string[][] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const send = async (body: string) => {
    const i = ids(body);
    calls.push(i);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((r) => setTimeout(r, delayMs));
    inFlight--;
    return answer(i, calls.length);
  };
  return { send, calls, get maxInFlight() { return maxInFlight; } };
}

function indexer(send: IndexerOptions['send'], over: Partial<IndexerOptions> = {}) {
  const starts: BulkStart[] = [];
  const ix = new Indexer({
    index: 'i',
    caps: { maxDocs: 10, maxBytes: 1_000_000 },
    send,
    concurrency: { min: 1, max: 4, initial: 4 },
    latencyTargetMs: 10_000,
    breaker: { failureThreshold: 3, openMs: 30 },
    retry: { baseMs: 1, maxMs: 5 },
    lingerMs: 5,
    log,
    events: { bulkStart: (b) => starts.push(b) },
    ...over,
  });
  return { ix, starts };
}

/** A port whose bulks stay in flight until the test lets them answer (all ok). */
function gatedPort() {
  const calls: string[][] = [];
  const gates: Array<() => void> = [];
  let inFlight = 0;
  const send = async (body: string): Promise<BulkAttempt> => {
    const i = ids(body);
    calls.push(i);
    inFlight++;
    await new Promise<void>((r) => gates.push(r));
    inFlight--;
    return { kind: 'answered', items: i.map(() => ok) };
  };
  const tick = () => new Promise((r) => setTimeout(r, 5));
  return {
    send,
    calls,
    get inFlight() {
      return inFlight;
    },
    /** Lets the oldest bulk in flight answer, then gives the indexer time to send the next. */
    async answerOne() {
      gates.shift()?.();
      await tick();
    },
    tick,
  };
}

describe('Indexer', () => {
  it('gathers documents of several jobs into full bulks and settles each job', async () => {
    const p = port((i) => ({ kind: 'answered', items: i.map(() => ok) }));
    const { ix, starts } = indexer(p.send);
    const outcomes = await Promise.all([ix.submit(job('a', 1, 7)), ix.submit(job('b', 1, 7)), ix.submit(job('c', 1, 7))]);
    expect(outcomes).toEqual([0, 0, 0].map(() => ({ indexed: 7, duplicates: 0, failed: 0 })));
    expect(p.calls.map((c) => c.length)).toEqual([10, 10, 1]);
    expect(p.calls.flat().sort()).toEqual([...['a', 'b', 'c'].flatMap((d) => [1, 2, 3, 4, 5, 6, 7].map((s) => `t:${d}:${s}`))].sort());
    expect(starts.every((b) => b.inFlight <= b.limit)).toBe(true);
    expect(ix.heldDocs).toBe(0);
  });

  it('resends only the items refused with 429, and cuts the limit', async () => {
    const p = port((i, call) => ({ kind: 'answered', items: i.map((_, k) => (call === 1 && k % 2 === 0 ? { kind: 'retry', status: 429, throttled: true } : ok)) }));
    const { ix } = indexer(p.send);
    expect(await ix.submit(job('a', 1, 6))).toEqual({ indexed: 6, duplicates: 0, failed: 0 });
    expect(p.calls).toEqual([['t:a:1', 't:a:2', 't:a:3', 't:a:4', 't:a:5', 't:a:6'], ['t:a:1', 't:a:3', 't:a:5']]);
    expect(ix.limiter.limit).toBe(2);
  });

  it('resends the whole bulk after a whole-request 429', async () => {
    const p = port((i, call) => (call === 1 ? { kind: 'failed', failure: { transport: 'response', status: 429 } } : { kind: 'answered', items: i.map(() => ok) }));
    const { ix } = indexer(p.send);
    expect(await ix.submit(job('a', 1, 3))).toEqual({ indexed: 3, duplicates: 0, failed: 0 });
    expect(p.calls).toEqual([['t:a:1', 't:a:2', 't:a:3'], ['t:a:1', 't:a:2', 't:a:3']]);
    expect(ix.limiter.limit).toBe(2);
    expect(ix.breaker.state).toBe('closed');
  });

  it('counts 409s as duplicates and 4xx items as permanent failures, without retrying them', async () => {
    const p = port((i) => ({ kind: 'answered', items: i.map((_, k): ItemVerdict => (k === 0 ? { kind: 'duplicate' } : k === 1 ? { kind: 'permanent', status: 400, errorType: 'mapper_parsing_exception' } : ok)) }));
    const { ix } = indexer(p.send);
    expect(await ix.submit(job('a', 1, 4))).toEqual({ indexed: 2, duplicates: 1, failed: 1 });
    expect(p.calls).toHaveLength(1);
  });

  it('fails every document of a bulk refused as a whole with a 4xx', async () => {
    const p = port(() => ({ kind: 'failed', failure: { transport: 'response', status: 400 } }));
    const { ix } = indexer(p.send);
    expect(await ix.submit(job('a', 1, 3))).toEqual({ indexed: 0, duplicates: 0, failed: 3 });
    expect(p.calls).toHaveLength(1);
  });

  it(`gives up on a document after ${MAX_ITEM_SERVER_ERRORS} per-item 5xx answers, never on 429s`, async () => {
    const p = port((i, call) => ({
      kind: 'answered',
      items: i.map((id): ItemVerdict => (id === 't:a:1' ? { kind: 'retry', status: 500, throttled: false } : call < 15 ? { kind: 'retry', status: 429, throttled: true } : ok)),
    }));
    const { ix } = indexer(p.send, { retry: { baseMs: 0, maxMs: 0 } });
    expect(await ix.submit(job('a', 1, 2))).toEqual({ indexed: 1, duplicates: 0, failed: 1 });
    expect(p.calls.filter((c) => c.includes('t:a:1'))).toHaveLength(MAX_ITEM_SERVER_ERRORS);
    expect(p.calls.filter((c) => c.includes('t:a:2')).length).toBeGreaterThanOrEqual(15);
  });

  it('opens the breaker on consecutive failures, sends nothing while open, probes, closes, settles everything', async () => {
    let down = true;
    const sentAt: number[] = [];
    const p = port((i) => {
      sentAt.push(Date.now());
      return down ? { kind: 'failed', failure: { transport: 'connection' } as RequestFailure } : { kind: 'answered', items: i.map(() => ok) };
    });
    const states: string[] = [];
    const { ix } = indexer(p.send, { breaker: { failureThreshold: 3, openMs: 40 }, events: { breakerChange: (to) => states.push(to) } });
    const done = ix.submit(job('a', 1, 25));
    await new Promise((r) => setTimeout(r, 150));
    expect(states[0]).toBe('open');
    // While open, at most one probe per openMs: a handful of sends, not a retry storm.
    expect(p.calls.length).toBeLessThan(12);
    down = false;
    expect(await done).toEqual({ indexed: 25, duplicates: 0, failed: 0 });
    expect(states.slice(-2)).toEqual(['half_open', 'closed']);
  });

  it('never has more bulks in flight than the limit, which stays within [min, max]', async () => {
    let calls = 0;
    const p = port((i) => ({ kind: 'answered', items: i.map((): ItemVerdict => (++calls % 7 === 0 ? { kind: 'retry', status: 429, throttled: true } : ok)) }), 3);
    const { ix, starts } = indexer(p.send, { caps: { maxDocs: 5, maxBytes: 1_000_000 }, concurrency: { min: 1, max: 3, initial: 3 } });
    await Promise.all(Array.from({ length: 30 }, (_, d) => ix.submit(job(`d${d}`, 1, 9))));
    expect(p.maxInFlight).toBeLessThanOrEqual(3);
    for (const b of starts) {
      expect(b.inFlight).toBeLessThanOrEqual(b.limit);
      expect(b.limit).toBeLessThanOrEqual(3);
      expect(b.docs).toBeLessThanOrEqual(5);
    }
  });

  it('splits by bytes and refuses a document larger than maxBytes at once', async () => {
    const p = port((i) => ({ kind: 'answered', items: i.map(() => ok) }));
    const { ix, starts } = indexer(p.send, { caps: { maxDocs: 100, maxBytes: 400 } });
    const big = job('big', 1, 3);
    big.events[1]!.data = { blob: 'x'.repeat(500) };
    expect(await ix.submit(big)).toEqual({ indexed: 2, duplicates: 0, failed: 1 });
    expect(await ix.submit(job('small', 1, 8))).toEqual({ indexed: 8, duplicates: 0, failed: 0 });
    expect(starts.every((b) => b.bytes <= 400)).toBe(true);
  });

  it('does not linger when the feeder cannot send more (its job capacity is reached)', async () => {
    const p = port((i) => ({ kind: 'answered', items: i.map(() => ok) }));
    const { ix } = indexer(p.send, { lingerMs: 60_000, jobCapacity: 2 });
    const started = Date.now();
    await Promise.all([ix.submit(job('a', 1, 3)), ix.submit(job('b', 1, 3))]);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(p.calls.map((c) => c.length)).toEqual([6]);
  });

  it('drain flushes at once; abort rejects what is still open', async () => {
    const p = port((i) => ({ kind: 'answered', items: i.map(() => ok) }));
    const { ix } = indexer(p.send, { lingerMs: 60_000 });
    const a = ix.submit(job('a', 1, 3));
    await ix.drain();
    expect(await a).toEqual({ indexed: 3, duplicates: 0, failed: 0 });

    const stuck = indexer(async () => ({ kind: 'failed', failure: { transport: 'connection' } }), { retry: { baseMs: 10, maxMs: 10 } }).ix;
    const b = stuck.submit(job('b', 1, 3));
    await new Promise((r) => setTimeout(r, 30));
    expect(stuck.oldestAcceptedAt()).toBe(1);
    stuck.abort();
    await expect(b).rejects.toBeInstanceOf(IndexerClosedError);
    await expect(stuck.submit(job('c', 1, 1))).rejects.toBeInstanceOf(IndexerClosedError);
    expect(stuck.heldDocs).toBe(0);
  });

  describe('reconfigure (a config reload)', () => {
    const limits = (over: Partial<IndexerLimits> = {}): IndexerLimits => ({
      caps: { maxDocs: 10, maxBytes: 1_000_000 },
      concurrency: { min: 1, max: 4 },
      latencyTargetMs: 10_000,
      breaker: { failureThreshold: 3, openMs: 30 },
      retry: { baseMs: 1, maxMs: 5 },
      ...over,
    });

    it('bulks packed after the change follow the new maxDocs; the bulk in flight is not touched', async () => {
      const p = gatedPort();
      const { ix } = indexer(p.send, { concurrency: { min: 1, max: 1, initial: 1 } });
      const done = ix.submit(job('a', 1, 30));
      await p.tick();
      expect(p.calls.map((c) => c.length)).toEqual([10]);
      ix.reconfigure(limits({ caps: { maxDocs: 4, maxBytes: 1_000_000 }, concurrency: { min: 1, max: 1 } }));
      expect(ix.caps).toEqual({ maxDocs: 4, maxBytes: 1_000_000 });
      while (p.calls.length < 6 || p.inFlight > 0) await p.answerOne();
      expect(await done).toEqual({ indexed: 30, duplicates: 0, failed: 0 });
      expect(p.calls.map((c) => c.length)).toEqual([10, 4, 4, 4, 4, 4]);
    });

    it('a lower ceiling: bulks in flight finish, no new one starts until below it; a higher floor sends at once', async () => {
      const p = gatedPort();
      const { ix, starts } = indexer(p.send, { caps: { maxDocs: 1, maxBytes: 1_000_000 }, concurrency: { min: 1, max: 4, initial: 4 } });
      const done = ix.submit(job('a', 1, 12));
      await p.tick();
      expect(p.inFlight).toBe(4);
      ix.reconfigure(limits({ caps: { maxDocs: 1, maxBytes: 1_000_000 }, concurrency: { min: 1, max: 2 } }));
      expect(ix.limiter.limit).toBe(2);
      const before = starts.length;
      await p.answerOne();
      await p.answerOne();
      expect(starts.length).toBe(before); // 2 still in flight: none may start
      await p.answerOne();
      expect(p.inFlight).toBe(2); // one answer, one new bulk
      for (const b of starts.slice(before)) expect(b.inFlight).toBeLessThanOrEqual(2);

      ix.reconfigure(limits({ caps: { maxDocs: 1, maxBytes: 1_000_000 }, concurrency: { min: 3, max: 3 } }));
      expect(ix.limiter.limit).toBe(3);
      await p.tick();
      expect(p.inFlight).toBe(3);
      while (p.inFlight > 0) await p.answerOne();
      expect(await done).toEqual({ indexed: 12, duplicates: 0, failed: 0 });
    });

    it('a document held that no longer fits a lower maxBytes alone is settled as failed; the rest is indexed', async () => {
      const p = gatedPort();
      const { ix, starts } = indexer(p.send, { concurrency: { min: 1, max: 1, initial: 1 } });
      const first = ix.submit(job('first', 1, 1));
      await p.tick();
      const mixed = job('mixed', 1, 6);
      mixed.events[2]!.data = { blob: 'x'.repeat(500) };
      const done = ix.submit(mixed);
      ix.reconfigure(limits({ caps: { maxDocs: 10, maxBytes: 400 }, concurrency: { min: 1, max: 1 } }));
      while (p.inFlight > 0) await p.answerOne();
      expect(await first).toEqual({ indexed: 1, duplicates: 0, failed: 0 });
      expect(await done).toEqual({ indexed: 5, duplicates: 0, failed: 1 });
      expect(p.calls.flat()).not.toContain('t:mixed:3');
      for (const b of starts.slice(1)) expect(b.bytes).toBeLessThanOrEqual(400);
      expect(ix.heldDocs).toBe(0);
    });

    it('a job capacity reached by the change ends the linger at once', async () => {
      const p = port((i) => ({ kind: 'answered', items: i.map(() => ok) }));
      const { ix } = indexer(p.send, { lingerMs: 60_000 });
      const done = Promise.all([ix.submit(job('a', 1, 3)), ix.submit(job('b', 1, 3))]);
      await new Promise((r) => setTimeout(r, 20));
      expect(p.calls).toHaveLength(0);
      ix.reconfigure(limits({ jobCapacity: 2 }));
      await done;
      expect(p.calls.map((c) => c.length)).toEqual([6]);
    });

    it('hands the breaker, latency target and backoff their new settings; refuses invalid caps before changing anything', () => {
      const { ix } = indexer(async () => ({ kind: 'answered', items: [] }));
      ix.reconfigure(limits({ breaker: { failureThreshold: 7, openMs: 900 }, latencyTargetMs: 1234, concurrency: { min: 2, max: 6 } }));
      expect(ix.breaker.settings).toEqual({ failureThreshold: 7, openMs: 900 });
      expect(ix.limiter.latencyTargetMs).toBe(1234);
      expect(ix.limiter.bounds).toEqual({ min: 2, max: 6 });
      expect(() => ix.reconfigure(limits({ caps: { maxDocs: 0, maxBytes: 10 }, concurrency: { min: 1, max: 1 } }))).toThrow(RangeError);
      expect(() => ix.reconfigure(limits({ retry: { baseMs: 10, maxMs: 5 }, concurrency: { min: 1, max: 1 } }))).toThrow(RangeError);
      expect(ix.limiter.bounds).toEqual({ min: 2, max: 6 });
      expect(ix.caps).toEqual({ maxDocs: 10, maxBytes: 1_000_000 });
    });
  });
});
