// OpenSearch goes away for 30 s and comes back on the same port with the same data while index jobs
// keep arriving: indexing lags (and says so), the breaker opens and holds the work instead of failing
// jobs, probes, closes by itself, and the backlog drains with nothing lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedKeys, type SearchPressure } from '../src/queue/keys.js';
import { events, job, sleep, startHarness, startServices, type Services } from './index-helpers.js';

let s: Services;
beforeAll(async () => {
  s = await startServices({});
});
afterAll(async () => s?.stop());

describe('OpenSearch outage', () => {
  it('lags, opens the breaker, holds every job, then drains and closes it', { timeout: 240_000 }, async () => {
    const h = await startHarness(s, {
      opensearch: { breaker: { failureThreshold: 3, openMs: 2000 }, retry: { baseMs: 100, maxMs: 2000 } },
      search: { workerConcurrency: 8 },
    });
    const key = sharedKeys(h.config.redis.keyPrefix).searchPressure;
    const perJob = 20;
    let produced = 0;
    let producing = true;
    const producer = (async () => {
      while (producing) {
        await h.add(job('outage', `dev${produced}`, events(1, perJob)));
        produced++;
        await sleep(100);
      }
    })();
    const samples: Array<{ at: number; p: SearchPressure | null; failed: number }> = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const raw = await h.redis.get(key);
        const failed = (await h.queue.getJobCounts('failed')).failed ?? 0;
        samples.push({ at: Date.now(), p: raw ? (JSON.parse(raw) as SearchPressure) : null, failed });
        await sleep(250);
      }
    })();
    try {
      await sleep(3000);
      expect(h.worker.lagMs()).toBeLessThan(2000);

      const down = Date.now();
      await s.node!.pause();
      await sleep(30_000 - (Date.now() - down));
      const lagAtEnd = h.worker.lagMs();
      expect(h.recorder.breaker).toContain('open');
      expect(lagAtEnd).toBeGreaterThan(20_000);
      expect(samples.some((x) => x.p?.breaker === 'open')).toBe(true);

      await s.node!.resume();
      await sleep(2000);
      producing = false;
      await producer;
      await h.waitCompleted(produced, 120_000);
      await sleep(600);

      expect(h.worker.lagMs()).toBeLessThan(2000);
      const b = h.recorder.breaker;
      expect(b.slice(b.lastIndexOf('open'))).toEqual(['open', 'half_open', 'closed']);
      expect(JSON.parse((await h.redis.get(key))!)).toMatchObject({ breaker: 'closed' });
      expect(await h.metric('ingest_index_breaker_state')).toBe(0);
      // Nothing failed into a retry storm, nothing lost, nothing doubled.
      expect(samples.every((x) => x.failed === 0)).toBe(true);
      expect(await h.count()).toBe(produced * perJob);
      expect(await h.metric('ingest_index_docs_failed_total')).toBe(0);
      // Lag rose during the outage and came back down.
      const maxLag = Math.max(...samples.map((x) => x.p?.lagMs ?? 0));
      expect(maxLag).toBeGreaterThan(20_000);
      console.log(`outage: ${produced} jobs, max lag ${(maxLag / 1000).toFixed(1)} s, breaker opened, ${b.filter((x) => x === 'half_open').length} probes, closed`);
    } finally {
      producing = false;
      sampling = false;
      await Promise.allSettled([producer, sampler]);
      await h.close();
    }
  });
});
