// The events index: a concrete index `${name}-000001` behind the alias `${name}` (opensearch.index),
// with a strict mapping, and an index template that gives the same mapping to any index created under
// that name later.
//
// Why an alias: operators can reindex (a mapping change, more shards) into `${name}-000002` and swap the
// alias atomically without touching the bridge's config. Not rollover: `create` deduplicates by _id
// within one index only, so writing to a new index while the old one holds recent events would index
// redelivered events twice. Swap the alias only after the reindex has caught up.
//
// Why a template too: if the alias is deleted while bridges run, their next bulk would auto-create a
// concrete index named like the alias with a dynamic mapping; the template makes that index strict too.
import { errors, type Client } from '@opensearch-project/opensearch';

/** Field mapping of the events index (contract "Stored shape" + acceptedAt). */
export const EVENTS_MAPPING = {
  // strict: a document with an unknown top-level field is refused (a bug in the bridge), never mapped.
  dynamic: 'strict',
  properties: {
    tenant: { type: 'keyword' },
    device: { type: 'keyword' },
    type: { type: 'keyword' },
    seq: { type: 'long' },
    ts: { type: 'date', format: 'epoch_millis' },
    acceptedAt: { type: 'date', format: 'epoch_millis' },
    // flat_object (OpenSearch 2.7+): the whole payload is one field whose leaves are indexed as keywords
    // (`data.grams: 4120` still matches), so device payloads with any keys cannot grow the mapping
    // (no "mapping explosion", no type conflict between two devices' `data.x`).
    data: { type: 'flat_object' },
  },
} as const;

export interface EventsIndexOptions {
  /** index.refresh_interval at creation (default: OpenSearch's 1s). Applied only when the index is created. */
  refreshInterval?: string;
  /** Primary shards (default 1: a device fleet's events are small documents; scale by reindexing). */
  shards?: number;
}

export function concreteIndexName(alias: string, generation = 1): string {
  return `${alias}-${String(generation).padStart(6, '0')}`;
}

function settingsOf(opts: EventsIndexOptions): Record<string, unknown> {
  return {
    number_of_shards: opts.shards ?? 1,
    // 0 replicas on a single node (which would otherwise stay yellow), 1 as soon as there is a second node.
    auto_expand_replicas: '0-1',
    ...(opts.refreshInterval ? { refresh_interval: opts.refreshInterval } : {}),
  };
}

function isAlreadyExists(err: unknown): boolean {
  if (!(err instanceof errors.ResponseError) || err.statusCode !== 400) return false;
  const body = err.body as { error?: { type?: string } } | undefined;
  return body?.error?.type === 'resource_already_exists_exception';
}

/**
 * Idempotent, and safe when several bridges start at once: creates the template, then the concrete index
 * with its alias unless the name already resolves (to our alias, or to an index an operator made).
 */
export async function ensureEventsIndex(client: Client, index: string, opts: EventsIndexOptions = {}): Promise<void> {
  await client.indices.putIndexTemplate({
    name: `${index}-events`,
    body: {
      index_patterns: [index, `${index}-*`],
      // Above the usual catch-all templates (priority 0–100): two templates of equal priority matching
      // one name are refused by OpenSearch.
      priority: 200,
      template: { settings: settingsOf({ shards: opts.shards }), mappings: EVENTS_MAPPING },
      _meta: { owner: 'mqtt-ingest-bridge' },
    },
  });
  const exists = await client.indices.exists({ index });
  if (exists.body === true) return;
  const concrete = concreteIndexName(index);
  try {
    await client.indices.create({
      index: concrete,
      body: { settings: settingsOf(opts), mappings: EVENTS_MAPPING, aliases: { [index]: { is_write_index: true } } },
    });
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    // Created by another bridge a moment ago (creation with its alias is atomic: nothing to do), or the
    // alias was removed from an existing concrete index: put it back.
    await client.indices.putAlias({ index: concrete, name: index, body: { is_write_index: true } });
  }
}
