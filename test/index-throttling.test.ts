// Real back-pressure from OpenSearch: a node with a one-thread write pool and a one-slot queue refuses
// bulks with real 429s when pushed with high concurrency. The indexer must cut its concurrency, retry
// only what was refused, catch up, and lose nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { events, job, startHarness, startServices, startWorkerOf, type Services } from './index-helpers.js';

let s: Services;
beforeAll(async () => {
  s = await startServices({ settings: { 'thread_pool.write.size': '1', 'thread_pool.write.queue_size': '1' } });
});
afterAll(async () => s?.stop());

describe('indexing against a node that throttles', () => {
  it('sees real 429s, lowers its concurrency, catches up, and indexes every event exactly once', { timeout: 180_000 }, async () => {
    const initial = 16;
    const h = await startHarness(s, {
      opensearch: {
        bulk: { maxDocs: 50 },
        concurrency: { min: 1, max: initial, initial },
        retry: { baseMs: 20, maxMs: 500 },
      },
      search: { workerConcurrency: 64 },
    }, { startWorker: false });
    try {
      const jobs = 120;
      const perJob = 80;
      for (let d = 0; d < jobs; d++) await h.add(job('throttled', `dev${d}`, events(1, perJob)));
      await startWorkerOf(h);
      await h.waitCompleted(jobs, 150_000);

      const itemThrottles = await h.metric('ingest_index_throttled_total', { scope: 'item' });
      const requestThrottles = await h.metric('ingest_index_throttled_total', { scope: 'request' });
      expect(itemThrottles + requestThrottles).toBeGreaterThan(0);
      expect(h.recorder.sum('throttledItems')).toBe(itemThrottles);
      // The limit went down from where it started (and the limit was respected all along).
      expect(Math.min(...h.recorder.limits)).toBeLessThan(initial);
      for (const b of h.recorder.starts) {
        expect(b.inFlight).toBeLessThanOrEqual(b.limit);
        expect(b.limit).toBeLessThanOrEqual(initial);
        expect(b.docs).toBeLessThanOrEqual(50);
      }
      // Nothing lost, nothing doubled, nothing given up on.
      expect(await h.count()).toBe(jobs * perJob);
      expect(await h.metric('ingest_index_docs_indexed_total')).toBe(jobs * perJob);
      expect(await h.metric('ingest_index_docs_failed_total')).toBe(0);
      // Only refused documents were resent: retries are bounded by the throttled items and bulks.
      const resent = h.recorder.starts.reduce((a, b) => a + b.docs, 0) - jobs * perJob;
      expect(resent).toBe(h.recorder.sum('retried'));
      console.log(`429s: ${itemThrottles} per item, ${requestThrottles} whole-request; limit ${h.recorder.limits.slice(0, 5).join(' → ')} …, between ${Math.min(...h.recorder.limits)} and ${Math.max(...h.recorder.limits.slice(4))} after that; ${h.recorder.starts.length} bulks, ${resent} documents resent`);
    } finally {
      await h.close();
    }
  });
});
