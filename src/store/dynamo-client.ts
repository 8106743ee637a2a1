// The store stage's DynamoDB client.
import { Agent } from 'node:http';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { BridgeConfig } from '../config/schema.js';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function isLocalEndpoint(endpoint: string | null): boolean {
  if (!endpoint) return false;
  try {
    return LOOPBACK_HOSTS.has(new URL(endpoint).hostname);
  } catch {
    return false;
  }
}

export interface DynamoClientOptions {
  /** Overrides config.dynamodb.endpoint (e.g. the capacity proxy in front of dynalite). */
  endpoint?: string;
  /** Sockets kept open to DynamoDB; one per concurrent call is enough. */
  maxSockets?: number;
  /** A call slower than this fails as retryable instead of holding its job forever. */
  requestTimeoutMs?: number;
}

/**
 * The store stage's DynamoDB client. `maxAttempts: 1`: the writer is the one retry layer (it knows about
 * idempotence, pacing and UnprocessedItems); SDK retries underneath would multiply attempts and hide throttles.
 * A loopback endpoint (dynalite) gets dummy credentials so that no credential chain is consulted.
 */
export function createDynamoClient(config: BridgeConfig, opts: DynamoClientOptions = {}): DynamoDBClient {
  const endpoint = opts.endpoint ?? config.dynamodb.endpoint ?? undefined;
  return new DynamoDBClient({
    region: config.dynamodb.region,
    ...(endpoint ? { endpoint } : {}),
    ...(isLocalEndpoint(endpoint ?? null) ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
    maxAttempts: 1,
    requestHandler: {
      httpAgent: new Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 64 }),
      connectionTimeout: 5_000,
      requestTimeout: opts.requestTimeoutMs ?? 30_000,
      throwOnRequestTimeout: true,
    },
  });
}
