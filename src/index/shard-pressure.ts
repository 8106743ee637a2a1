// Shard pressure as OpenSearch sees it: the write thread pools of its nodes (queue depth, rejections).
// Polled every few seconds for the operator's dashboards; the indexer itself reacts to the 429s it gets,
// which are the same rejections seen from our side.
import type { Client } from '@opensearch-project/opensearch';

export interface WritePoolStats {
  /** Tasks queued, summed over nodes. */
  queue: number;
  /** Tasks rejected since each node started, summed over nodes. */
  rejected: number;
  active: number;
}

interface PoolStats {
  queue?: number;
  rejected?: number;
  active?: number;
}

/** Sums the `write` thread pool over the nodes of a `_nodes/stats/thread_pool` answer. */
export function sumWritePools(body: unknown): WritePoolStats {
  const out: WritePoolStats = { queue: 0, rejected: 0, active: 0 };
  const nodes = (body as { nodes?: Record<string, { thread_pool?: Record<string, PoolStats> }> } | null)?.nodes ?? {};
  for (const n of Object.values(nodes)) {
    const w = n.thread_pool?.['write'];
    if (!w) continue;
    out.queue += w.queue ?? 0;
    out.rejected += w.rejected ?? 0;
    out.active += w.active ?? 0;
  }
  return out;
}

export async function pollWritePools(client: Client, requestTimeoutMs = 5000): Promise<WritePoolStats> {
  const res = await client.nodes.stats({ metric: ['thread_pool'] }, { maxRetries: 0, requestTimeout: requestTimeoutMs });
  return sumWritePools(res.body);
}
