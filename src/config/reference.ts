// Generates docs/config-reference.md from the schema, the defaults file and the sizing guidance
// below, so that the reference cannot drift from what the bridge accepts (a test compares them).
// Regenerate with: npm run config:reference
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { configSchema, RESTART_KEYS } from './schema.js';
import { DEFAULT_CONFIG_FILE, readYamlFile } from './load.js';

interface JsonSchema {
  type?: string | string[];
  description?: string;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
}

export interface ReferenceRow {
  key: string;
  type: string;
  default: string;
  range: string;
  description: string;
  live: boolean;
}

/** How to size the knobs that matter most. Keys must exist in the schema (a test checks). */
export const GUIDANCE: Record<string, string> = {
  'storage.writeUnitsPerSec':
    'Size it from the table\'s capacity: provisioned WCU (or the on-demand rate you are willing to pay for) minus what other writers use, times about 0.8 for headroom. One event of up to 1 KB costs 1 unit; an event of 1.5 KB costs 2. Drain time of a backlog ≈ its write units ÷ this value.',
  'storage.partitionWriteUnitsPerSec':
    'DynamoDB caps one partition at 1,000 WCU/s. Keep 1000 unless the table shares partitions with other hot keys; lower it to leave them room.',
  'admission.device.ratePerSec':
    'From the device\'s buffer and offline time: a device that buffers B events while offline for T and produces r events/s online drains its backlog in B ÷ (rate − r). Pick a rate that drains the expected backlog within your freshness target, e.g. 4 h offline at 0.2 ev/s = 2,880 events; at 20 ev/s that drains in about 2.4 minutes.',
  'admission.device.burst':
    'What a device may send at once after being quiet: one or two batches (≥ admission.maxAcceptPerBatch) lets a reconnecting device send its first batch whole.',
  'admission.tenants.<tenant>.ratePerSec':
    'A tenant\'s share of the write envelope: the sum of tenant rates may exceed storage.writeUnitsPerSec (not all tenants storm at once), but one tenant alone should stay below it so it cannot starve the others.',
  'admission.maxAcceptPerBatch':
    'The work one batch may cause: keep it near the batch size devices send (≤ limits.maxEventsPerBatch). Smaller values spread a big backlog over more round trips; larger ones let one device monopolise a worker.',
  'admission.queue.highWaterEvents':
    'Queue depth from which acceptance shrinks: about 10–30 s of the write envelope (storage.writeUnitsPerSec × 10–30 for 1 KB events). Deeper queues only add latency.',
  'admission.queue.maxEvents':
    'The hard stop: 2–4 × highWaterEvents. Redis memory per queued event is roughly its JSON size plus ~100 bytes.',
  'opensearch.bulk.maxDocs':
    'Bulk requests of 5–15 MB are the usual sweet spot; with events of ~300 bytes, 1,000–5,000 documents. Fewer on a small node.',
  'opensearch.bulk.maxBytes': 'Keep under http.max_content_length (100 MB by default) and in the 5–15 MB range for throughput.',
  'opensearch.concurrency.max':
    'About the number of write threads of the cluster (one per core per data node) divided by the number of bridge instances; the adaptive limit stays at or below it.',
  'opensearch.lagBoundMs':
    'How stale search may get before the edge slows devices down. Search may lag; the source of truth may not: make it generous (minutes) unless search freshness is a product requirement.',
  'mqtt.connect.ratePerSec':
    'How many TLS/MQTT handshakes one instance absorbs per second while still serving batches; 200–1,000 on 2 cores. Refused devices reconnect after a jittered delay.',
  'admission.retryAfter.spread': '0.2–0.5 spreads a deferred fleet over a window of that fraction of the wait; 0 makes retries arrive in lockstep.',
};

function typeOf(s: JsonSchema): string {
  if (s.anyOf) return s.anyOf.map(typeOf).join(' | ');
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  return Array.isArray(s.type) ? s.type.join(' | ') : (s.type ?? 'any');
}

function rangeOf(s: JsonSchema): string {
  const inner = s.anyOf?.find((a) => a.type !== 'null') ?? s;
  const parts: string[] = [];
  const big = (n: number) => (n >= Number.MAX_SAFE_INTEGER ? '' : n.toLocaleString('en-US'));
  if (inner.exclusiveMinimum !== undefined) parts.push(`> ${inner.exclusiveMinimum}`);
  if (inner.minimum !== undefined) parts.push(`≥ ${inner.minimum}`);
  if (inner.maximum !== undefined && big(inner.maximum)) parts.push(`≤ ${big(inner.maximum)}`);
  if (inner.minLength !== undefined || inner.maxLength !== undefined) parts.push(`length ${inner.minLength ?? 0}–${inner.maxLength ?? '∞'}`);
  if (inner.pattern) parts.push(`\`${inner.pattern}\``);
  return parts.join(', ');
}

function valueAt(doc: unknown, path: string[]): unknown {
  let node = doc;
  for (const k of path) node = node && typeof node === 'object' ? (node as Record<string, unknown>)[k === '<tenant>' ? 'default' : k] : undefined;
  return node;
}

function isRestartKey(key: string): boolean {
  return RESTART_KEYS.some((k) => key === k || key.startsWith(`${k}.`));
}

/** Every leaf key of the schema, in schema order. */
export function referenceRows(): ReferenceRow[] {
  const root = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const defaults = readYamlFile(DEFAULT_CONFIG_FILE);
  const rows: ReferenceRow[] = [];
  const walk = (s: JsonSchema, path: string[]) => {
    if (s.properties) {
      for (const [k, v] of Object.entries(s.properties)) walk(v, [...path, k]);
      return;
    }
    if (typeof s.additionalProperties === 'object') {
      walk(s.additionalProperties, [...path, '<tenant>']);
      return;
    }
    const key = path.join('.');
    const def = valueAt(defaults, path);
    rows.push({
      key,
      type: typeOf(s),
      default: def === undefined ? '(from default)' : JSON.stringify(def),
      range: rangeOf(s),
      description: s.description ?? '',
      live: !isRestartKey(key),
    });
  };
  walk(root, []);
  return rows;
}

const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderReference(): string {
  const rows = referenceRows();
  const sections = new Map<string, ReferenceRow[]>();
  for (const r of rows) {
    const top = r.key.split('.')[0]!;
    sections.set(top, [...(sections.get(top) ?? []), r]);
  }
  const out: string[] = [
    '# Configuration reference',
    '',
    '<!-- Generated by `npm run config:reference` from src/config/schema.ts, config/default.yaml and',
    '     src/config/reference.ts. Do not edit by hand: a test fails when this file drifts. -->',
    '',
    'Every key the bridge accepts. `config/default.yaml` holds the defaults; `npm start -- --config FILE`',
    'overlays a file on it, and `BRIDGE_REDIS_URL`, `BRIDGE_DYNAMODB_ENDPOINT`, `BRIDGE_OPENSEARCH_NODE`,',
    '`BRIDGE_MQTT_HOST`, `BRIDGE_HTTP_HOST` override endpoints. Unknown keys are refused. Check a file with',
    '`npm run config:check -- FILE`.',
    '',
    '**Live** keys take effect without a restart when the config file changes or on SIGHUP; the others',
    '(listeners, endpoints, names) are reported as needing a restart. `admission.tenants.<tenant>` is a',
    'tenant id or `default` (every tenant not named); keys a tenant leaves out come from `default`.',
    '',
  ];
  for (const [top, list] of sections) {
    out.push(`## ${top}`, '', '| key | type | default | range | live | meaning |', '| --- | --- | --- | --- | --- | --- |');
    for (const r of list) {
      out.push(`| \`${r.key}\` | ${esc(r.type)} | \`${esc(r.default)}\` | ${esc(r.range)} | ${r.live ? 'yes' : 'restart'} | ${esc(r.description)} |`);
    }
    out.push('');
    const guided = list.filter((r) => GUIDANCE[r.key]);
    if (guided.length > 0) {
      out.push('Sizing:', '');
      for (const r of guided) out.push(`- \`${r.key}\`: ${GUIDANCE[r.key]}`);
      out.push('');
    }
  }
  return out.join('\n');
}

export const REFERENCE_FILE = resolve(fileURLToPath(import.meta.url), '../../../docs/config-reference.md');

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(REFERENCE_FILE, renderReference());
  process.stdout.write(`wrote ${REFERENCE_FILE}\n`);
}
