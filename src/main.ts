// npm start [-- --config FILE]: loads and validates the config, starts the local stack for every
// endpoint that is not configured, then runs the bridge until SIGTERM/SIGINT.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, deepMerge, validateConfig } from './config/load.js';
import type { BridgeConfig } from './config/schema.js';
import { createLogger, type Logger } from './telemetry/logger.js';
import type { Bridge } from './bridge.js';
import { ConfigWatcher } from './config/watch.js';

interface Running {
  bridge: Bridge;
  stack: { stop(): Promise<void> } | null;
  watcher: ConfigWatcher | null;
  graceMs: number;
}

/**
 * SIGTERM/SIGINT handling from the first moment: a signal during start-up stops what has started
 * as soon as start-up completes, instead of killing the process with the stack half up.
 */
function handleSignals(log: Logger): { ready(r: Running): void } {
  let running: Running | null = null;
  let pending: string | null = null;
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const r = running!;
    log.info({ signal }, 'shutting down');
    const hardStop = setTimeout(() => {
      log.error('shutdown took longer than shutdown.graceMs + 10 s; exiting');
      process.exit(1);
    }, r.graceMs + 10_000);
    hardStop.unref();
    r.watcher?.stop();
    await r.bridge.stop();
    await r.stack?.stop();
    process.exit(0);
  };
  const onSignal = (signal: string) => {
    if (running) void shutdown(signal);
    else pending ??= signal;
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  return {
    ready(r) {
      running = r;
      if (pending) void shutdown(pending);
    },
  };
}

function fail(message: string): never {
  process.stderr.write(`ingest-bridge: ${message}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({ options: { config: { type: 'string', short: 'c' }, roles: { type: 'string' } }, allowPositionals: false });
  } catch (err) {
    fail(`${(err as Error).message} (usage: npm start -- [--config FILE] [--roles edge,store,index])`);
  }
  const roleList = (args.values.roles ?? process.env['BRIDGE_ROLES'] ?? 'edge,store,index').split(',').map((r) => r.trim());
  const unknownRole = roleList.find((r) => !['edge', 'store', 'index'].includes(r));
  if (unknownRole !== undefined) fail(`--roles: unknown role "${unknownRole}" (edge, store, index)`);
  const roles = { edge: roleList.includes('edge'), store: roleList.includes('store'), index: roleList.includes('index') };
  const file = args.values.config ? resolve(args.values.config) : undefined;
  let config: BridgeConfig;
  try {
    config = loadConfig({ file });
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  const log = createLogger(config.log.level);
  const started = Date.now();
  const signals = handleSignals(log);
  // Loaded after the config is known to be valid, so that a bad config is refused at once.
  const [{ startBridge }, { startLocalStack }] = await Promise.all([import('./bridge.js'), import('./stack/local-stack.js')]);

  const needStack = config.redis.url === null || config.dynamodb.endpoint === null || config.opensearch.node === null;
  const stack = needStack
    ? await startLocalStack({
        redisUrl: config.redis.url ?? undefined,
        dynamodbEndpoint: config.dynamodb.endpoint ?? undefined,
        opensearchNode: config.opensearch.node ?? undefined,
        dataDir: resolve(config.stack.dataDir),
        opensearch: { heapMb: config.stack.opensearchHeapMb },
        // Its own process, so that the bridge's memory and CPU metrics are the bridge's alone.
        dynaliteInProcess: false,
        onProgress: (msg: string) => log.info({ stack: msg }, 'local stack starting'),
        log,
      })
    : null;
  // Endpoints of the local stack are part of the running config, on start and on every reload.
  const withStack = (c: BridgeConfig): BridgeConfig =>
    stack
      ? validateConfig(
          deepMerge(c, { redis: { url: stack.endpoints.redis }, dynamodb: { endpoint: stack.endpoints.dynamodb }, opensearch: { node: stack.endpoints.opensearch } }),
          file ?? 'defaults',
        )
      : c;
  if (stack) log.info({ endpoints: stack.endpoints, started: stack.started }, 'local stack ready');
  config = withStack(config);

  let bridge: Bridge;
  try {
    bridge = await startBridge({ config, log, roles });
  } catch (err) {
    log.error({ err }, 'bridge failed to start');
    await stack?.stop();
    process.exit(1);
  }
  log.info({ mqttPort: bridge.mqttPort, httpPort: bridge.httpPort, readyInMs: Date.now() - started }, 'bridge ready');

  const watcher = file
    ? new ConfigWatcher({
        file,
        load: () => withStack(loadConfig({ file })),
        current: () => bridge.config(),
        apply: (next) => bridge.reconfigure(next),
        registry: bridge.registry,
        log,
      })
    : null;
  if (watcher) watcher.start();
  else process.on('SIGHUP', () => log.warn('SIGHUP: no --config file to reload'));

  signals.ready({ bridge, stack, watcher, graceMs: config.shutdown.graceMs });
}

main().catch((err: unknown) => {
  process.stderr.write(`ingest-bridge: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
