// Runs the store stage alone in its own process: `npx tsx src/store/store-worker-process.ts`.
// Used by the multi-process tests and the storage-drain benchmark; also a way to scale writers separately.
// Environment: STORE_WORKER_REDIS_URL (required), STORE_WORKER_DYNAMODB (endpoint, overrides dynamodb.endpoint),
// STORE_WORKER_CONFIG (a YAML file overlaid on the defaults), STORE_WORKER_OVERRIDES (JSON overlay, applied last),
// STORE_WORKER_LOCK_MS (BullMQ lock duration). Protocol on stdout, one JSON line each:
// {"event":"ready","pid":…} once the worker runs, {"event":"closed","metrics":{…}} after SIGTERM/SIGINT.
// Logs go to stderr.
import pino from 'pino';
import { Registry } from 'prom-client';
import { loadConfig } from '../config/load.js';
import { createDynamoClient } from './dynamo-client.js';
import { startStoreWorker } from './store-worker.js';

function env(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** Metric name → sum of its sample values, plus `name{label="value"}` per labelled sample: for a parent process. */
export async function metricTotals(registry: Registry): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const m of await registry.getMetricsAsJSON()) {
    // The typings declare a numeric enum; at runtime prom-client reports the type as text.
    if ((m.type as unknown as string) === 'histogram' || (m.type as unknown as string) === 'summary') continue;
    out[m.name] = m.values.reduce((s, v) => s + Number(v.value), 0);
    for (const v of m.values) {
      const labels = Object.entries(v.labels ?? {}).map(([k, x]) => `${k}="${x}"`).join(',');
      if (labels) out[`${m.name}{${labels}}`] = Number(v.value);
    }
  }
  return out;
}

async function main(): Promise<void> {
  const redisUrl = env('STORE_WORKER_REDIS_URL');
  if (!redisUrl) throw new Error('STORE_WORKER_REDIS_URL is required');
  const overrides = env('STORE_WORKER_OVERRIDES');
  const config = loadConfig({ file: env('STORE_WORKER_CONFIG'), overrides: overrides ? (JSON.parse(overrides) as unknown) : undefined });
  const log = pino({ level: config.log.level, base: { service: 'ingest-bridge', stage: 'store', pid: process.pid } }, pino.destination(2));
  const dynamo = createDynamoClient(config, { endpoint: env('STORE_WORKER_DYNAMODB') });
  const registry = new Registry();
  const lockMs = env('STORE_WORKER_LOCK_MS');
  const worker = await startStoreWorker({
    config,
    redisUrl,
    dynamo,
    registry,
    log,
    ...(lockMs ? { lockDurationMs: Number(lockMs), stalledIntervalMs: Number(lockMs) } : {}),
  });
  process.stdout.write(`${JSON.stringify({ event: 'ready', pid: process.pid })}\n`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await worker.close();
    dynamo.destroy();
    process.stdout.write(`${JSON.stringify({ event: 'closed', metrics: await metricTotals(registry) })}\n`);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

main().catch((err: unknown) => {
  process.stderr.write(`store worker process failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
