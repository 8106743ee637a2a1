// --start-bridge: the local stack (in memory) and one bridge in this process, on free ports, with
// the scenario's bridge overrides. For rehearsals on one machine; a footprint measurement should
// run the bridge in another process (bench/sim-footprint.ts does).
import pino from 'pino';
import { deepMerge, loadConfig } from '../src/config/load.js';
import type { BridgeConfig } from '../src/config/schema.js';
import type { Bridge } from '../src/bridge.js';
import type { VerifyTarget } from './verify.js';

export interface LocalBridge {
  mqttUrl: string;
  httpUrl: string;
  config: BridgeConfig;
  target: VerifyTarget;
  stop(): Promise<void>;
}

export async function startLocalBridge(overrides: unknown, onProgress: (msg: string) => void, logLevel = 'warn'): Promise<LocalBridge> {
  // Imported on demand: connecting to a running bridge must not load the bridge's code.
  const [{ startBridge }, { startLocalStack }] = await Promise.all([import('../src/bridge.js'), import('../src/stack/local-stack.js')]);
  // dynalite in its own (tethered) process: in this one it would compete with the fleet for the event loop.
  const stack = await startLocalStack({ inMemory: true, onProgress, dynaliteInProcess: false });
  let bridge: Bridge;
  let config: BridgeConfig;
  try {
    config = loadConfig({
      env: {},
      overrides: deepMerge(overrides, {
        mqtt: { port: 0 },
        http: { port: 0 },
        log: { level: logLevel },
        redis: { url: stack.endpoints.redis },
        dynamodb: { endpoint: stack.endpoints.dynamodb },
        opensearch: { node: stack.endpoints.opensearch },
      }),
    });
    // The bridge logs on stderr here: stdout carries the run's report.
    const log = pino({ level: logLevel, base: { service: 'ingest-bridge' } }, pino.destination(2));
    bridge = await startBridge({ config, log });
  } catch (e) {
    await stack.stop().catch(() => {});
    throw e;
  }
  return {
    mqttUrl: `mqtt://127.0.0.1:${bridge.mqttPort}`,
    httpUrl: `http://127.0.0.1:${bridge.httpPort}`,
    config,
    target: {
      dynamodb: { endpoint: stack.endpoints.dynamodb, region: config.dynamodb.region, table: config.dynamodb.table },
      opensearch: { node: stack.endpoints.opensearch, index: config.opensearch.index },
    },
    stop: async () => {
      await bridge.stop().catch(() => {});
      await stack.stop();
    },
  };
}

/** Reads the verification target from a running bridge's GET /status.json. */
export async function targetFromStatus(httpUrl: string, region = 'us-east-1'): Promise<VerifyTarget> {
  const url = `${httpUrl.replace(/\/+$/, '')}/status.json`;
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  const s = (await res.json()) as {
    endpoints?: { dynamodb?: string; opensearch?: string };
    config?: { dynamodb?: { table?: string }; opensearch?: { index?: string } };
  };
  const dynamodb = s.endpoints?.dynamodb;
  const opensearch = s.endpoints?.opensearch;
  const table = s.config?.dynamodb?.table;
  const index = s.config?.opensearch?.index;
  if (!dynamodb || !opensearch || !table || !index) throw new Error(`GET ${url}: endpoints or config.dynamodb.table / config.opensearch.index missing`);
  return { dynamodb: { endpoint: dynamodb, region, table }, opensearch: { node: opensearch, index } };
}
