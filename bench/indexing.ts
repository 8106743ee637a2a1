// Indexing throughput of the search stage, through the real index queue, side by side with a plain
// `client.helpers.bulk` run of the same documents on the same node (each into a fresh index with the
// same mapping).
//
//   npx tsx bench/indexing.ts [--docs N] [--rounds R] [--job-size N] [--worker-concurrency N]
//                             [--plain-flush-bytes N] [--heap-mb N]
//
// The queue is filled first (a backlog, as after a reconnect storm), then the indexer drains it; the
// time measured is from the worker's start to the last job completed. helpers.bulk gets the same byte
// bulk size (flushBytes = the bytes of opensearch.bulk.maxDocs documents, as helpers.bulk has no
// document cap; --plain-flush-bytes overrides it) and concurrency = opensearch.concurrency.max.
// Throughput counts documents that reached the index: helpers.bulk drops documents still refused after
// its retries (it reports them), the indexer keeps retrying them. Rounds alternate which side goes first.
import { parseArgs } from 'node:util';
import { Client } from '@opensearch-project/opensearch';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { loadConfig } from '../src/config/load.js';
import { eventDocument, prepareDoc, type EventDocument } from '../src/index/event-document.js';
import { ensureEventsIndex } from '../src/index/index-setup.js';
import { startIndexWorker } from '../src/index/index-worker.js';
import { eventId } from '../src/contract/identity.js';
import { eventsJobId, INDEX_QUEUE, type EventsJob } from '../src/queue/jobs.js';
import { startOpenSearchNode } from '../src/stack/opensearch-node.js';
import { startRedis } from '../src/stack/redis-server.js';
import { createLogger } from '../src/telemetry/logger.js';

const { values: args } = parseArgs({
  options: {
    docs: { type: 'string', default: '100000' },
    'job-size': { type: 'string', default: '100' },
    'worker-concurrency': { type: 'string' },
    'heap-mb': { type: 'string', default: '512' },
    rounds: { type: 'string', default: '3' },
    'plain-flush-bytes': { type: 'string' },
  },
});
const totalDocs = Number(args.docs);
const jobSize = Number(args['job-size']);
const say = (s: string) => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function makeJobs(): EventsJob[] {
  const jobs: EventsJob[] = [];
  const now = Date.now();
  for (let d = 0; jobs.length * jobSize < totalDocs; d++) {
    const n = Math.min(jobSize, totalDocs - jobs.length * jobSize);
    const events = Array.from({ length: n }, (_, i) => ({
      seq: i + 1,
      ts: now + i,
      type: i % 3 === 0 ? 'weight' : 'temperature',
      data: { grams: 4000 + ((d * 31 + i) % 500), celsius: 18 + (i % 7), battery: 100 - (i % 50), fw: '2.4.1' },
    }));
    jobs.push({ tenant: `tenant${d % 10}`, device: `device-${d}`, events, acceptedAt: now });
  }
  return jobs;
}

/** Prints progress every second while `done()` is below the total. */
function progress(label: string, done: () => Promise<number> | number): () => void {
  const started = Date.now();
  let last = 0;
  let lastAt = started;
  const t = setInterval(() => {
    void (async () => {
      const n = await done();
      const now = Date.now();
      const rate = ((n - last) * 1000) / Math.max(1, now - lastAt);
      say(`  ${label}: ${n.toLocaleString('en')} / ${totalDocs.toLocaleString('en')} docs, ${Math.round(rate).toLocaleString('en')} docs/s now, ${((now - started) / 1000).toFixed(0)} s`);
      last = n;
      lastAt = now;
    })();
  }, 1000);
  return () => clearInterval(t);
}

interface RunResult {
  ms: number;
  /** Documents in the index at the end (after a refresh). */
  count: number;
  /** Documents the run reported as not indexed. */
  dropped: number;
  note: string;
}

async function runPlain(client: Client, docs: Array<{ id: string; doc: EventDocument }>, index: string, maxBytes: number, concurrency: number, refreshInterval: string): Promise<RunResult> {
  await ensureEventsIndex(client, index, { refreshInterval });
  let fed = 0;
  const drops: Record<string, number> = {};
  const stop = progress('helpers.bulk', () => fed);
  const started = Date.now();
  const stats = (await client.helpers.bulk({
    datasource: docs.map((d) => ({ ...d.doc, __id: d.id })),
    onDocument: (d: EventDocument & { __id: string }) => {
      fed++;
      const { __id, ...rest } = d;
      return [{ create: { _index: index, _id: __id } }, rest];
    },
    flushBytes: maxBytes,
    concurrency,
    onDrop: (d: { status: number; error?: { type?: string } }) => {
      const k = `${d.status} ${d.error?.type ?? ''}`.trim();
      drops[k] = (drops[k] ?? 0) + 1;
    },
  } as never)) as { successful: number; failed: number };
  const ms = Date.now() - started;
  stop();
  await client.indices.refresh({ index });
  const count = (await client.count({ index })).body.count as number;
  const why = Object.entries(drops).map(([k, v]) => `${v}× ${k}`).join(', ');
  return { ms, count, dropped: stats.failed, note: stats.failed > 0 ? `dropped after its retries: ${why}` : '' };
}

async function runIndexer(client: Client, redisUrl: string, nodeUrl: string, jobs: EventsJob[], round: number): Promise<RunResult> {
  const config = loadConfig({
    env: {},
    overrides: {
      log: { level: 'warn' },
      redis: { url: redisUrl, keyPrefix: `bench${round}` },
      opensearch: { node: nodeUrl, index: `bench-indexer-${round}` },
      ...(args['worker-concurrency'] ? { search: { workerConcurrency: Number(args['worker-concurrency']) } } : {}),
    },
  });
  const conn = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue<EventsJob>(INDEX_QUEUE, { connection: conn, prefix: config.redis.keyPrefix });
  const enqStarted = Date.now();
  for (let i = 0; i < jobs.length; i += 500) {
    await queue.addBulk(jobs.slice(i, i + 500).map((j) => ({ name: 'events', data: j, opts: { jobId: eventsJobId('index', j), removeOnComplete: true } })));
  }
  say(`  enqueued ${jobs.length} index jobs in ${((Date.now() - enqStarted) / 1000).toFixed(2)} s (not counted)`);
  const registry = new Registry();
  const value = async (name: string, suffix = '') =>
    (await registry.getSingleMetric(name)?.get())?.values.find((v) => !suffix || (v as { metricName?: string }).metricName?.endsWith(suffix))?.value ?? 0;
  const stop = progress('indexer', () => value('ingest_index_docs_indexed_total'));
  let widened = false;
  // The index exists before the clock starts, as it does for the plain run.
  await ensureEventsIndex(client, config.opensearch.index, { refreshInterval: config.opensearch.refreshInterval.normal });
  const started = Date.now();
  const worker = await startIndexWorker({ config, redisUrl, client, registry, log: createLogger('warn') });
  for (;;) {
    const c = await queue.getJobCounts('wait', 'active', 'failed');
    if ((await value('ingest_index_refresh_widened')) === 1) widened = true;
    if (c.wait === 0 && c.active === 0) break;
    if (c.failed! > 0) throw new Error(`${c.failed} index jobs failed`);
    await sleep(20);
  }
  const ms = Date.now() - started;
  stop();
  const bulks = await value('ingest_index_bulk_size_docs', '_count');
  const indexed = await value('ingest_index_docs_indexed_total');
  const throttled = (await value('ingest_index_throttled_total')) + 0;
  const failed = await value('ingest_index_docs_failed_total');
  await worker.close();
  await queue.close();
  conn.disconnect();
  await client.indices.refresh({ index: config.opensearch.index });
  const count = (await client.count({ index: config.opensearch.index })).body.count as number;
  const os = config.opensearch;
  return {
    ms,
    count,
    dropped: failed,
    note: `${bulks} bulks, ${(indexed / Math.max(1, bulks)).toFixed(0)} docs/bulk, ${throttled} item 429s, refresh ${widened ? `widened to ${os.refreshInterval.wide}` : 'not widened'}`,
  };
}

async function main(): Promise<void> {
  const rounds = Number(args.rounds);
  say(`indexing benchmark: ${totalDocs.toLocaleString('en')} documents in jobs of ${jobSize}, ${rounds} round(s)`);
  say('starting redis and an OpenSearch node ...');
  const [redis, node] = await Promise.all([startRedis({ appendonly: false }), startOpenSearchNode({ heapMb: Number(args['heap-mb']) })]);
  const client = new Client({ node: node.url });
  try {
    const defaults = loadConfig({ env: {} });
    const os = defaults.opensearch;
    const wc = args['worker-concurrency'] ? Number(args['worker-concurrency']) : defaults.search.workerConcurrency;
    say(`config: bulk ≤ ${os.bulk.maxDocs} docs / ${os.bulk.maxBytes} bytes, concurrency ${os.concurrency.min}–${os.concurrency.max} (start ${os.concurrency.initial}), search.workerConcurrency ${wc}`);
    const jobs = makeJobs();
    const docs = jobs.flatMap((j) => j.events.map((e) => ({ id: eventId(j.tenant, j.device, e.seq), doc: eventDocument(j, e) })));
    const meanBytes = docs.slice(0, 1000).reduce((a, d) => a + prepareDoc('x', d.doc).bytes, 0) / Math.min(1000, docs.length);
    const flushBytes = args['plain-flush-bytes'] ? Number(args['plain-flush-bytes']) : Math.min(os.bulk.maxBytes, Math.round(meanBytes * os.bulk.maxDocs));
    say(`helpers.bulk: flushBytes ${flushBytes} (≈ ${Math.round(flushBytes / meanBytes)} documents of ${Math.round(meanBytes)} bytes), concurrency ${os.concurrency.max}, its default retries (3, 5 s apart)`);
    const rows: Array<{ run: string; r: RunResult }> = [];
    for (let round = 1; round <= rounds; round++) {
      // Alternate the order so that neither side always runs on a warmer (or more fragmented) node.
      const order = round % 2 === 1 ? ['plain', 'indexer'] : ['indexer', 'plain'];
      for (const which of order) {
        say(`round ${round}: ${which === 'plain' ? 'plain client.helpers.bulk' : 'indexer through the index queue'} ...`);
        const r =
          which === 'plain'
            ? await runPlain(client, docs, `bench-plain-${round}`, flushBytes, os.concurrency.max, os.refreshInterval.normal)
            : await runIndexer(client, redis.url, node.url, jobs, round);
        rows.push({ run: `${which === 'plain' ? 'client.helpers.bulk' : 'indexer via queue'} #${round}`, r });
        say(`  done in ${(r.ms / 1000).toFixed(2)} s, ${r.count} documents in the index ${r.note ? `(${r.note})` : ''}`);
      }
    }
    say('');
    say('| run                        | docs in index | not indexed | seconds | docs/s | notes');
    say('| -------------------------- | ------------- | ----------- | ------- | ------ | -----');
    for (const { run, r } of rows) {
      say(`| ${run.padEnd(26)} | ${String(r.count).padStart(13)} | ${String(r.dropped).padStart(11)} | ${(r.ms / 1000).toFixed(2).padStart(7)} | ${Math.round((r.count * 1000) / r.ms).toString().padStart(6)} | ${r.note}`);
    }
    const rate = (prefix: string) => {
      const rs = rows.filter((x) => x.run.startsWith(prefix)).map((x) => (x.r.count * 1000) / x.r.ms).sort((a, b) => a - b);
      return rs[Math.floor(rs.length / 2)]!;
    };
    const ours = rate('indexer');
    const plain = rate('client');
    say(`median docs/s (documents that reached the index): indexer ${Math.round(ours)}, helpers.bulk ${Math.round(plain)}; ratio indexer / helpers.bulk = ${(ours / plain).toFixed(2)}`);
    const lost = rows.filter((x) => x.r.count !== totalDocs);
    if (lost.length > 0) say(`runs that did not index all ${totalDocs} documents: ${lost.map((x) => `${x.run} (${x.r.count})`).join(', ')}`);
  } finally {
    await client.close();
    await Promise.allSettled([node.stop(), redis.stop()]);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench/indexing: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
