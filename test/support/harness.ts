// Starts a bridge for one test on the shared stack, isolated by its own key prefix, table and index.
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { deepMerge, loadConfig } from '../../src/config/load.js';
import type { BridgeConfig } from '../../src/config/schema.js';
import { startBridge, type Bridge, type BridgeOptions } from '../../src/bridge.js';
import { createLogger } from '../../src/telemetry/logger.js';

export interface TestBridge {
  bridge: Bridge;
  config: BridgeConfig;
  stop(): Promise<void>;
}

/** A config on the shared stack with fresh names; `overrides` are overlaid last. */
export function testConfig(overrides: unknown = {}, isolation = `t${randomBytes(4).toString('hex')}`): BridgeConfig {
  const endpoints = inject('endpoints');
  const base = {
    mqtt: { port: 0 },
    http: { port: 0 },
    log: { level: process.env['TEST_LOG_LEVEL'] ?? 'warn' },
    redis: { url: endpoints.redis, keyPrefix: isolation },
    dynamodb: { endpoint: endpoints.dynamodb, table: `events-${isolation}` },
    opensearch: { node: endpoints.opensearch, index: `events-${isolation}` },
    shutdown: { graceMs: 5000 },
  };
  return loadConfig({ overrides: deepMerge(base, overrides), env: {} });
}

export async function startTestBridge(overrides: unknown = {}, opts: Omit<BridgeOptions, 'config'> & { config?: BridgeConfig } = {}): Promise<TestBridge> {
  const config = opts.config ?? testConfig(overrides);
  const bridge = await startBridge({ ...opts, config, log: opts.log ?? createLogger(config.log.level) });
  return { bridge, config, stop: () => bridge.stop() };
}
