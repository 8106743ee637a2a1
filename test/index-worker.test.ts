// The search stage against a real OpenSearch node and the real index queue on a real Redis:
// exactly-once documents, bulk caps, the concurrency invariant, lag reporting, refresh widening,
// permanent failures.
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { Client } from '@opensearch-project/opensearch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventId } from '../src/contract/identity.js';
import { concreteIndexName, ensureEventsIndex, EVENTS_MAPPING } from '../src/index/index-setup.js';
import { RefreshWidener } from '../src/index/refresh-widener.js';
import { sharedKeys, type SearchPressure } from '../src/queue/keys.js';
import { getFreePort } from '../src/stack/ports.js';
import { createLogger } from '../src/telemetry/logger.js';
import { allDocs, events, job, sleep, startHarness, startServices, startWorkerOf, type Harness, type Services } from './index-helpers.js';
import { startTestBridge } from './support/harness.js';

let s: Services;
beforeAll(async () => {
  s = await startServices();
});
afterAll(async () => s?.stop());

describe('ensureEventsIndex', () => {
  it('creates a strict, flat_object-mapped index behind the alias, idempotently and concurrently', async () => {
    const h = await startHarness(s, {}, { startWorker: false });
    try {
      const index = `${h.config.opensearch.index}-setup`;
      await Promise.all([ensureEventsIndex(h.client, index), ensureEventsIndex(h.client, index, { refreshInterval: '2s' })]);
      await ensureEventsIndex(h.client, index);
      const got = (await h.client.indices.get({ index })).body as Record<string, { aliases: object; mappings: unknown }>;
      expect(Object.keys(got)).toEqual([concreteIndexName(index)]);
      expect(got[concreteIndexName(index)]!.aliases).toEqual({ [index]: { is_write_index: true } });
      expect(got[concreteIndexName(index)]!.mappings).toEqual(EVENTS_MAPPING);
      // The alias removed by hand: ensure puts it back.
      await h.client.indices.deleteAlias({ index: concreteIndexName(index), name: index });
      await ensureEventsIndex(h.client, index);
      expect((await h.client.indices.existsAlias({ name: index })).body).toBe(true);
    } finally {
      await h.close();
    }
  });
});

describe('index worker', () => {
  let h: Harness;
  afterAll(async () => h?.close());

  it('indexes each event exactly once: a job run twice, duplicated jobs and overlapping ranges', async () => {
    h = await startHarness(s, { search: { workerConcurrency: 4 } });
    const a = job('acme', 'd1', events(1, 100));
    await h.add(a);
    await h.waitCompleted(1);
    // The same job again: removed after completion (as removeOnComplete would) and enqueued again.
    await h.queue.remove(`index|acme|d1|1-100`);
    await h.add(a);
    // A redelivery under another id, an overlapping range, and two identical jobs racing each other
    // (their documents can meet in one bulk: the second create of an _id in a bulk is a 409 too).
    const c = job('acme', 'd2', events(1, 100));
    await Promise.all([h.add(a, 'redelivered-a'), h.add(job('acme', 'd1', events(50, 150))), h.add(c), h.add(c, 'twin-c')]);
    await h.waitCompleted(5); // the first run of `a` was removed from the completed set

    const sent = 100 + 100 + 100 + 101 + 100 + 100;
    const unique = 150 + 100;
    expect(await h.count()).toBe(unique);
    expect(await h.metric('ingest_index_docs_indexed_total')).toBe(unique);
    expect(await h.metric('ingest_index_duplicates_suppressed_total')).toBe(sent - unique);
    expect(h.recorder.sum('duplicates')).toBe(sent - unique);
    expect(await h.metric('ingest_index_docs_failed_total')).toBe(0);

    const docs = await allDocs(h.client, h.config.opensearch.index);
    expect(docs.size).toBe(unique);
    for (const [device, last] of [['d1', 150], ['d2', 100]] as const) {
      for (let seq = 1; seq <= last; seq++) {
        const src = docs.get(eventId('acme', device, seq));
        expect(src, `${device}:${seq}`).toMatchObject({ tenant: 'acme', device, seq, ts: 1_764_806_400_000 + seq, type: 'weight', data: { grams: seq * 10 } });
        expect(typeof src!['acceptedAt']).toBe('number');
      }
    }
    // Completed jobs report what happened to their documents.
    const done = await h.queue.getJob('redelivered-a');
    expect(done?.returnvalue).toEqual({ indexed: 0, duplicates: 100, failed: 0 });
  });

  it('flat_object data stays searchable by its leaves', async () => {
    const res = await h.client.search({ index: h.config.opensearch.index, body: { query: { term: { 'data.grams': '420' } } } });
    const hits = res.body.hits.hits as Array<{ _id: string }>;
    expect(hits.map((x) => x._id).sort()).toEqual(['acme:d1:42', 'acme:d2:42']);
  });

  it('publishes {lagMs, breaker} with a TTL for the edge', async () => {
    const key = sharedKeys(h.config.redis.keyPrefix).searchPressure;
    await sleep(600);
    const p = JSON.parse((await h.redis.get(key))!) as SearchPressure;
    expect(p).toEqual({ lagMs: 0, breaker: 'closed' });
    const ttl = await h.redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(5000);
  });
});

describe('bounded bulks', () => {
  it('never exceeds maxDocs/maxBytes per bulk nor the concurrency limit, and fills bulks from many jobs', async () => {
    const maxDocs = 37;
    const maxBytes = 9000;
    const h = await startHarness(s, {
      opensearch: { bulk: { maxDocs, maxBytes }, concurrency: { min: 1, max: 3, initial: 3 } },
      search: { workerConcurrency: 64 },
    }, { startWorker: false });
    try {
      // 120 jobs of 1–40 events with payloads of varying size: both caps bind, jobs are smaller than bulks.
      let total = 0;
      for (let d = 0; d < 120; d++) {
        const n = 1 + ((d * 7) % 40);
        total += n;
        await h.add(job('caps', `dev${d}`, events(1, n, (seq) => ({ pad: 'x'.repeat(((seq * 37 + d * 11) % 9) * 40) }))));
      }
      await startWorkerOf(h);
      await h.waitCompleted(120);
      expect(await h.count()).toBe(total);

      const starts = h.recorder.starts;
      expect(starts.reduce((acc, b) => acc + b.docs, 0)).toBe(total);
      for (const b of starts) {
        expect(b.docs).toBeLessThanOrEqual(maxDocs);
        expect(b.bytes).toBeLessThanOrEqual(maxBytes);
        expect(b.inFlight).toBeLessThanOrEqual(b.limit);
        expect(b.limit).toBeLessThanOrEqual(3);
      }
      // Jobs average ~20 events: full bulks mean documents of several jobs were gathered into one.
      const full = starts.filter((b) => b.docs === maxDocs || b.bytes > maxBytes - 800).length;
      expect(full / starts.length).toBeGreaterThan(0.8);
      expect(Math.max(...starts.map((b) => b.inFlight))).toBeGreaterThan(1);
      // The same bounds, read from the metrics: nothing observed above the caps.
      const hist = async (name: string, le: number) => {
        const v = (await h.registry.getSingleMetric(name)!.get()).values as Array<{ value: number; labels: Record<string, unknown>; metricName?: string }>;
        const bucket = v.find((x) => x.metricName === `${name}_bucket` && x.labels['le'] === le)!.value;
        const count = v.find((x) => x.metricName === `${name}_count`)!.value;
        return { bucket, count };
      };
      const docsHist = await hist('ingest_index_bulk_size_docs', maxDocs);
      expect(docsHist.bucket).toBe(docsHist.count);
      expect(docsHist.count).toBe(starts.length);
      const bytesHist = await hist('ingest_index_bulk_size_bytes', maxBytes);
      expect(bytesHist.bucket).toBe(bytesHist.count);
    } finally {
      await h.close();
    }
  });
});

describe('backlog and failures', () => {
  it('widens the refresh interval while the backlog is high and restores it after', async () => {
    const h = await startHarness(s, {
      opensearch: { refreshInterval: { normal: '1s', wide: '30s', widenAtBacklog: 1500 }, bulk: { maxDocs: 200 }, concurrency: { min: 1, max: 1, initial: 1 } },
      search: { workerConcurrency: 2 },
    }, { startWorker: false });
    try {
      for (let d = 0; d < 40; d++) await h.add(job('wide', `dev${d}`, events(1, 100)));
      const seen: number[] = [];
      const sampler = setInterval(() => void h.metric('ingest_index_refresh_widened').then((v) => seen.push(v)), 20);
      await startWorkerOf(h);
      await h.waitCompleted(40);
      await sleep(800); // a few pressure ticks after the backlog is gone
      clearInterval(sampler);
      expect(seen).toContain(1);
      expect(await h.metric('ingest_index_refresh_widened')).toBe(0);
      const settings = (await h.client.indices.getSettings({ index: h.config.opensearch.index })).body as Record<string, { settings: { index: { refresh_interval?: string } } }>;
      expect(Object.values(settings)[0]!.settings.index.refresh_interval).toBe('1s');
      expect(await h.count()).toBe(4000);
    } finally {
      await h.close();
    }
  });

  it('reports lag from the oldest waiting job while OpenSearch cannot be reached (jobs wait, none fail)', async () => {
    // An OpenSearch URL where nothing listens: the index cannot even be prepared, so nothing is fetched.
    const h = await startHarness({ ...s, opensearchUrl: `http://127.0.0.1:${await getFreePort()}` }, {}, { startWorker: false });
    try {
      await h.add(job('lag', 'old', events(1, 5), Date.now() - 42_000));
      await h.add(job('lag', 'new', events(1, 5)));
      const worker = await startWorkerOf(h);
      const key = sharedKeys(h.config.redis.keyPrefix).searchPressure;
      for (let i = 0; i < 100 && worker.lagMs() < 42_000; i++) await sleep(50);
      expect(worker.lagMs()).toBeGreaterThanOrEqual(42_000);
      expect(worker.lagMs()).toBeLessThan(52_000);
      const p = JSON.parse((await h.redis.get(key))!) as SearchPressure;
      expect(p.lagMs).toBeGreaterThanOrEqual(42_000);
      expect(p.breaker).toBe('closed');
      expect(await h.metric('ingest_index_lag_seconds')).toBeGreaterThanOrEqual(42);
      expect(await h.queue.getJobCounts('wait', 'failed')).toEqual({ wait: 2, failed: 0 });
    } finally {
      await h.close();
    }
  });

  it('counts documents OpenSearch refuses as permanent failures, indexes the rest and completes the job', async () => {
    const h = await startHarness(s);
    try {
      const evs = events(1, 10);
      // A timestamp the mapping cannot parse: a 400 for that one document, not for the bulk.
      (evs[4] as { ts: unknown }).ts = 'yesterday';
      await h.add(job('bad', 'd', evs));
      await h.waitCompleted(1);
      expect(await h.count()).toBe(9);
      expect(await h.metric('ingest_index_docs_failed_total')).toBe(1);
      const done = (await h.queue.getJobs(['completed']))[0]!;
      expect(done.returnvalue).toEqual({ indexed: 9, duplicates: 0, failed: 1 });
    } finally {
      await h.close();
    }
  });

  it('fails a malformed job once (no retries) and keeps going', async () => {
    const h = await startHarness(s);
    try {
      await h.queue.add('events', { nonsense: true } as never, { jobId: 'malformed' });
      await h.add(job('ok', 'd', events(1, 3)));
      for (let i = 0; i < 200 && (await h.queue.getJobCounts('failed')).failed !== 1; i++) await sleep(50);
      const failed = await h.queue.getJob('malformed');
      expect(await failed?.getState()).toBe('failed');
      expect(failed?.attemptsMade).toBe(1);
      for (let i = 0; i < 200 && (await h.queue.getJobCounts('completed')).completed !== 1; i++) await sleep(50);
      expect(await h.count()).toBe(3);
    } finally {
      await h.close();
    }
  });
});

describe('live reconfiguration', () => {
  it('a running worker follows new bulk caps and concurrency bounds from a reloaded config', async () => {
    const h = await startHarness(s, { opensearch: { bulk: { maxDocs: 50 }, concurrency: { min: 1, max: 4, initial: 4 } }, search: { workerConcurrency: 16 } });
    try {
      expect(await h.metric('ingest_index_concurrency_limit')).toBe(4);
      const next = structuredClone(h.config);
      next.opensearch.bulk.maxDocs = 7;
      next.opensearch.concurrency = { min: 1, max: 2, initial: 1 };
      next.search.workerConcurrency = 4;
      h.worker.reconfigure(next);
      expect(await h.metric('ingest_index_concurrency_limit')).toBe(2);
      for (let d = 0; d < 12; d++) await h.add(job('live', `dev${d}`, events(1, 20)));
      await h.waitCompleted(12);
      expect(await h.count()).toBe(240);
      const starts = h.recorder.starts;
      expect(starts.length).toBeGreaterThanOrEqual(240 / 7);
      for (const b of starts) {
        expect(b.docs).toBeLessThanOrEqual(7);
        expect(b.limit).toBeLessThanOrEqual(2);
        expect(b.inFlight).toBeLessThanOrEqual(b.limit);
      }
    } finally {
      await h.close();
    }
  });

  it('the refresh widener puts a changed interval of the mode in force, and widens at a changed threshold', async () => {
    const h = await startHarness(s, {}, { startWorker: false });
    try {
      const index = h.config.opensearch.index;
      await ensureEventsIndex(h.client, index);
      const interval = async () => {
        const body = (await h.client.indices.getSettings({ index })).body as Record<string, { settings: { index: { refresh_interval?: string } } }>;
        return Object.values(body)[0]!.settings.index.refresh_interval;
      };
      const widener = new RefreshWidener({ client: h.client, index, normal: '1s', wide: '30s', widenAtBacklog: 1000, log: createLogger('silent') });
      await widener.update(500);
      expect([widener.mode, await interval()]).toEqual(['normal', '1s']);
      widener.reconfigure({ normal: '2s', wide: '20s', widenAtBacklog: 100 });
      expect(widener.settings).toEqual({ normal: '2s', wide: '20s', widenAtBacklog: 100 });
      await widener.update(10);
      expect([widener.mode, await interval()]).toEqual(['normal', '2s']);
      await widener.update(500); // above the new threshold
      expect([widener.mode, await interval()]).toEqual(['wide', '20s']);
    } finally {
      await h.close();
    }
  });
});

describe('start-up while OpenSearch does not answer', () => {
  it('the bridge starts, /readyz reports opensearch, and the index is prepared once OpenSearch answers', async () => {
    // A TCP front for the real node: first it accepts connections and never answers (a hung node, the case a
    // refused connection does not cover), then it forwards new connections to the node.
    const target = new URL(s.opensearchUrl);
    const held = new Set<Socket>();
    let forward = false;
    const front = createServer((sock) => {
      sock.on('error', () => sock.destroy());
      if (!forward) {
        held.add(sock);
        return;
      }
      const up = connect(Number(target.port), target.hostname);
      up.on('error', () => sock.destroy());
      sock.pipe(up).pipe(sock);
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    const port = (front.address() as AddressInfo).port;
    const started = Date.now();
    const t = await startTestBridge({ opensearch: { node: `http://127.0.0.1:${port}`, retry: { baseMs: 100, maxMs: 1000 } } });
    try {
      expect(Date.now() - started).toBeLessThan(20_000);
      const readyz = async () => (await fetch(`http://127.0.0.1:${t.bridge.httpPort}/readyz`)).json() as Promise<{ ready: boolean; checks: Record<string, string> }>;
      const r = await readyz();
      expect(r.ready).toBe(false);
      expect(r.checks['opensearch']).not.toBe('ok');
      expect(r.checks['redis']).toBe('ok');

      forward = true;
      for (const sock of held) sock.destroy(); // the hung requests fail now instead of at their timeout
      const direct = new Client({ node: s.opensearchUrl });
      try {
        const index = t.config.opensearch.index;
        await expect.poll(async () => (await direct.indices.existsAlias({ name: index })).body, { timeout: 30_000, interval: 250 }).toBe(true);
        const got = (await direct.indices.get({ index })).body as Record<string, { mappings: unknown }>;
        expect(got[concreteIndexName(index)]!.mappings).toEqual(EVENTS_MAPPING);
        await expect.poll(async () => (await readyz()).ready, { timeout: 10_000, interval: 250 }).toBe(true);
      } finally {
        await direct.close();
      }
    } finally {
      await t.stop();
      for (const sock of held) sock.destroy();
      front.close();
    }
  });
});
