import type { BridgeConfig } from './schema.js';

/** Hides credentials embedded in endpoint URLs (`redis://user:pass@host`) before a config is shown. */
export function redactUrl(url: string | null): string | null {
  if (url === null) return null;
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, url.endsWith('/') ? '/' : '');
  } catch {
    return url;
  }
}

/** The effective config as an operator may see it: endpoint credentials hidden. */
export function redactConfig(c: BridgeConfig): BridgeConfig {
  return {
    ...c,
    redis: { ...c.redis, url: redactUrl(c.redis.url) },
    dynamodb: { ...c.dynamodb, endpoint: redactUrl(c.dynamodb.endpoint) },
    opensearch: { ...c.opensearch, node: redactUrl(c.opensearch.node) },
  };
}
