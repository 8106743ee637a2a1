/**
 * The local stack: Redis, a DynamoDB-compatible store (dynalite) and one OpenSearch node, started natively and in
 * parallel; only the parts whose endpoint is not given are started.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import { startDynalite, waitForListTables, type DynaliteHandle } from './dynalite-server.js';
import { startOpenSearchNode, waitForHealth, type OpenSearchNodeHandle } from './opensearch-node.js';
import { assertRedisServerOnPath, ping, startRedis, type RedisHandle } from './redis-server.js';
import { sleep } from './ports.js';

export type StackService = 'redis' | 'dynamodb' | 'opensearch';

export interface LocalStackOptions {
  /** Use this Redis instead of starting one. */
  redisUrl?: string;
  /** Use this DynamoDB endpoint instead of starting dynalite. */
  dynamodbEndpoint?: string;
  /** Use this OpenSearch node instead of starting one. */
  opensearchNode?: string;
  /** On-disk mode (npm start): DIR/redis (append-only file), DIR/dynamodb (LevelDB), DIR/opensearch (path.data). */
  dataDir?: string;
  /** In-memory mode (tests): temporary folders removed at stop(). The default when dataDir is absent. */
  inMemory?: boolean;
  /** Fixed ports for the services started (default: free ports). */
  ports?: { redis?: number; dynamodb?: number; opensearch?: number };
  opensearch?: { heapMb?: number; settings?: Record<string, string>; readyTimeoutMs?: number };
  /** Run dynalite in this process (default) or in a tethered child process. */
  dynaliteInProcess?: boolean;
  onProgress?: (msg: string) => void;
  log?: Logger;
}

export interface LocalStack {
  endpoints: { redis: string; dynamodb: string; opensearch: string };
  /** Services this call started (and stop() stops), in the order they became ready. */
  started: StackService[];
  /** pids of the processes started (dynamodb: this process's pid when dynalite runs in process). */
  pids: Partial<Record<StackService, number>>;
  /** Handles of what was started, for tests that need more (e.g. opensearch.pause()/resume()). */
  handles: { redis?: RedisHandle; dynamodb?: DynaliteHandle; opensearch?: OpenSearchNodeHandle };
  stop(): Promise<void>;
}

export async function startLocalStack(opts: LocalStackOptions = {}): Promise<LocalStack> {
  if (opts.inMemory && opts.dataDir) throw new Error('startLocalStack: give either inMemory or dataDir, not both');
  const dataDir = opts.inMemory ? undefined : opts.dataDir ? path.resolve(opts.dataDir) : undefined;
  const progress = opts.onProgress ?? (() => {});
  const t0 = Date.now();
  const secs = () => ((Date.now() - t0) / 1000).toFixed(1);

  // Fail fast, before anything slow is started.
  if (!opts.redisUrl) assertRedisServerOnPath();

  const handles: LocalStack['handles'] = {};
  const started: StackService[] = [];
  const pids: LocalStack['pids'] = {};
  const ready = (service: StackService, detail: string) => {
    progress(`${service}: ready in ${secs()}s (${detail})`);
  };

  // OpenSearch is by far the slowest: start it first.
  const opensearchP: Promise<string> = opts.opensearchNode
    ? checkOpenSearch(opts.opensearchNode).then((url) => (ready('opensearch', `given ${url}`), url))
    : startOpenSearchNode({
        port: opts.ports?.opensearch,
        heapMb: opts.opensearch?.heapMb,
        settings: opts.opensearch?.settings,
        readyTimeoutMs: opts.opensearch?.readyTimeoutMs,
        dataDir: dataDir ? path.join(dataDir, 'opensearch') : undefined,
        onProgress: progress,
        log: opts.log,
      }).then((h) => {
        handles.opensearch = h;
        started.push('opensearch');
        pids.opensearch = h.pid;
        ready('opensearch', `pid ${h.pid}, ${h.url}`);
        return h.url;
      });

  const redisP: Promise<string> = opts.redisUrl
    ? checkRedis(opts.redisUrl).then((url) => (ready('redis', `given ${url}`), url))
    : startRedis({
        port: opts.ports?.redis,
        dataDir: dataDir ? path.join(dataDir, 'redis') : undefined,
        appendonly: dataDir !== undefined,
        log: opts.log,
      }).then((h) => {
        handles.redis = h;
        started.push('redis');
        pids.redis = h.pid;
        ready('redis', `pid ${h.pid}, ${h.url}`);
        return h.url;
      });

  const dynamoP: Promise<string> = opts.dynamodbEndpoint
    ? waitForListTables(opts.dynamodbEndpoint, 30_000).then(() => {
        ready('dynamodb', `given ${opts.dynamodbEndpoint}`);
        return opts.dynamodbEndpoint!;
      })
    : startDynalite({
        port: opts.ports?.dynamodb,
        path: dataDir ? path.join(dataDir, 'dynamodb') : undefined,
        inProcess: opts.dynaliteInProcess ?? true,
        log: opts.log,
      }).then((h) => {
        handles.dynamodb = h;
        started.push('dynamodb');
        pids.dynamodb = h.pid;
        ready('dynamodb', `${h.pid === process.pid ? 'in process' : `pid ${h.pid}`}, ${h.endpoint}`);
        return h.endpoint;
      });

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      const results = await Promise.allSettled([
        handles.opensearch?.stop(),
        handles.redis?.stop(),
        handles.dynamodb?.stop(),
      ]);
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed.length > 0) {
        throw new Error(`local stack: stop failed: ${failed.map((f) => (f.reason as Error).message).join('; ')}`);
      }
    })());

  const results = await Promise.allSettled([redisP, dynamoP, opensearchP]);
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failures.length > 0) {
    await stop().catch(() => {});
    const message = failures.map((f) => (f.reason as Error).message).join('\n');
    throw new Error(`local stack did not start:\n${message}`);
  }
  const [redis, dynamodb, opensearch] = results.map((r) => (r as PromiseFulfilledResult<string>).value) as [string, string, string];
  return { endpoints: { redis, dynamodb, opensearch }, started, pids, handles, stop };
}

async function checkRedis(url: string, timeoutMs = 30_000): Promise<string> {
  const u = new URL(url);
  const port = Number(u.port || 6379);
  const host = u.hostname || '127.0.0.1';
  const deadline = Date.now() + timeoutMs;
  while (!(await ping(port, host))) {
    if (Date.now() >= deadline) throw new Error(`redis at ${url} did not answer PING within ${timeoutMs} ms`);
    await sleep(200);
  }
  return url;
}

async function checkOpenSearch(url: string, timeoutMs = 60_000): Promise<string> {
  const trimmed = url.replace(/\/+$/, '');
  await waitForHealth(trimmed, timeoutMs);
  return trimmed;
}
