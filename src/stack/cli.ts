/**
 * `npm run stack [-- options]`: starts the local stack (Redis, dynalite, OpenSearch), prints one JSON line with the
 * endpoints on stdout once all three answer, and stays up until SIGINT/SIGTERM. Progress goes to stderr.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client as OpenSearchClient } from '@opensearch-project/opensearch';
import { startLocalStack, type LocalStack } from './local-stack.js';
import { localDynamoClient } from './dynalite-server.js';
import { ensureEventsTable } from '../store/table.js';
import { ensureEventsIndex } from '../index/index-setup.js';

const USAGE = `usage: npm run stack -- [options]

  --memory                 in-memory stack (temporary folders, removed at exit)
  --data-dir DIR           on-disk stack under DIR (default: data)
  --redis-port N           fixed ports (default: free ports)
  --dynamodb-port N
  --opensearch-port N
  --opensearch-heap-mb N   OpenSearch JVM heap (default 512)
  --opensearch-setting K=V extra OpenSearch node setting (repeatable), e.g. thread_pool.write.size=1
  --redis-url URL          use this Redis instead of starting one
  --dynamodb-endpoint URL  use this DynamoDB endpoint instead of starting dynalite
  --opensearch-node URL    use this OpenSearch instead of starting a node
  --table NAME             events table to ensure (default device-events)
  --index NAME             events index to ensure (default device-events)
  --orphan-ok              keep running when the parent process dies (default: stop, see below)

Prints {"redis":...,"dynamodb":...,"opensearch":...} on stdout once everything answers; stops on SIGINT/SIGTERM/SIGHUP
and when its parent process dies (tsx runs this file in a child node process: SIGKILL of the tsx launcher leaves
that child orphaned, so it watches its parent pid). Every service child is tethered to this process and dies with it,
even on SIGKILL.`;

function fail(message: string): never {
  process.stderr.write(`stack: ${message}\n`);
  process.exit(1);
}

function portArg(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`--${name}: not a port: ${value}`);
  return port;
}

async function main(): Promise<void> {
  // A reader that went away (dead parent) must not crash the graceful shutdown with EPIPE.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        memory: { type: 'boolean', default: false },
        'data-dir': { type: 'string' },
        'redis-port': { type: 'string' },
        'dynamodb-port': { type: 'string' },
        'opensearch-port': { type: 'string' },
        'opensearch-heap-mb': { type: 'string' },
        'opensearch-setting': { type: 'string', multiple: true },
        'redis-url': { type: 'string' },
        'dynamodb-endpoint': { type: 'string' },
        'opensearch-node': { type: 'string' },
        table: { type: 'string', default: 'device-events' },
        index: { type: 'string', default: 'device-events' },
        'orphan-ok': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    process.stderr.write(`${USAGE}\n`);
    return;
  }
  if (values.memory && values['data-dir']) fail('--memory and --data-dir exclude each other');

  const settings: Record<string, string> = {};
  for (const kv of values['opensearch-setting'] ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) fail(`--opensearch-setting: expected key=value, got ${kv}`);
    settings[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const heap = values['opensearch-heap-mb'] === undefined ? undefined : Number(values['opensearch-heap-mb']);
  if (heap !== undefined && (!Number.isInteger(heap) || heap < 128)) fail('--opensearch-heap-mb: an integer ≥ 128');

  const t0 = Date.now();
  const say = (msg: string) => process.stderr.write(`stack: ${msg}\n`);
  let stack: LocalStack | undefined;
  let shuttingDown = false;

  const shutdown = (signal: NodeJS.Signals) => {
    if (shuttingDown) {
      say(`${signal} again: exiting now`);
      process.exit(1);
    }
    shuttingDown = true;
    if (!stack) {
      // Still starting: the tethers take every child down with us.
      say(`${signal} while starting: exiting`);
      process.exit(1);
    }
    say(`${signal}: stopping ${stack.started.join(', ') || 'nothing'} ...`);
    const stopStarted = Date.now();
    stack.stop().then(
      () => {
        say(`stopped in ${((Date.now() - stopStarted) / 1000).toFixed(1)}s`);
        process.exit(0);
      },
      (err: Error) => {
        say(err.message);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  process.on('SIGHUP', shutdown);
  if (!values['orphan-ok']) {
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) {
        say(`parent process ${parent} is gone`);
        shutdown('SIGHUP');
      }
    }, 500).unref();
  }

  const dataDir = values.memory ? undefined : path.resolve(values['data-dir'] ?? 'data');
  say(`starting (${dataDir ? `data in ${dataDir}` : 'in memory'}) ...`);
  try {
    stack = await startLocalStack({
      redisUrl: values['redis-url'],
      dynamodbEndpoint: values['dynamodb-endpoint'],
      opensearchNode: values['opensearch-node'],
      dataDir,
      inMemory: values.memory,
      ports: {
        redis: portArg(values['redis-port'], 'redis-port'),
        dynamodb: portArg(values['dynamodb-port'], 'dynamodb-port'),
        opensearch: portArg(values['opensearch-port'], 'opensearch-port'),
      },
      opensearch: { heapMb: heap, settings },
      onProgress: say,
    });
  } catch (err) {
    fail((err as Error).message);
  }
  if (shuttingDown) return;

  say(`pids ${Object.entries(stack.pids).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  await ensureSchema(stack, values.table, values.index, say);
  say(`up in ${((Date.now() - t0) / 1000).toFixed(1)}s; Ctrl-C to stop`);
  process.stdout.write(`${JSON.stringify(stack.endpoints)}\n`);
}

/** Creates the events table and index with the project's key design and mapping (idempotent). */
async function ensureSchema(stack: LocalStack, table: string, index: string, say: (msg: string) => void): Promise<void> {
  const dynamo = localDynamoClient(stack.endpoints.dynamodb);
  const os = new OpenSearchClient({ node: stack.endpoints.opensearch });
  try {
    await ensureEventsTable(dynamo, table);
    say(`dynamodb: table ${table} ensured`);
    await ensureEventsIndex(os, index);
    say(`opensearch: index ${index} ensured`);
  } finally {
    dynamo.destroy();
    await os.close().catch(() => undefined);
  }
}

main().catch((err: Error) => fail(err.stack ?? err.message));
