// Verification of a run against the stores: every event the fleet created is stored once in
// DynamoDB and indexed once in OpenSearch. Storage and indexing lag acceptance, so both are polled
// with a bound before counting. OpenSearch is checked by document _id (an `ids` query, hits counted
// per _id), so that a document indexed twice — say into two indices behind one alias — cannot hide
// behind a count.
import { DynamoDBClient, QueryCommand, type AttributeValue, type QueryCommandOutput } from '@aws-sdk/client-dynamodb';
import { Client as OpenSearchClient } from '@opensearch-project/opensearch';
import { eventId } from '../src/contract/identity.js';

export interface ExpectedDevice {
  tenant: string;
  device: string;
  /** Every seq in [firstSeq, lastSeq] is expected once. */
  firstSeq: number;
  lastSeq: number;
}

export interface VerifyTarget {
  dynamodb: { endpoint: string | null; region: string; table: string };
  opensearch: { node: string; index: string };
}

export interface VerifyOptions {
  /** Longest wait for storage and indexing to catch up, ms. */
  waitMs: number;
  pollMs?: number;
  /** DynamoDB queries at once. */
  concurrency?: number;
  /** Called with a short status while waiting. */
  onWait?: (line: string) => void;
}

export interface VerifyResult {
  ok: boolean;
  expected: number;
  waitedSec: number;
  dynamodb: {
    table: string;
    stored: number;
    missing: number;
    duplicates: number;
    /** Items of the run's devices with a seq the fleet never created. */
    unexpected: number;
    devicesWithLoss: number;
    sampleMissing: string[];
    /** Items lacking the contract's plain attributes (checked on one device per tenant). */
    shapeErrors: string[];
    error?: string;
  };
  opensearch: { index: string; indexed: number; missing: number; duplicates: number; sampleMissing: string[]; error?: string };
}

const SAMPLE = 10;
const IDS_PER_SEARCH = 2000;

export const partitionKey = (tenant: string, device: string) => `${tenant}#${device}`;

function dynamoClient(t: VerifyTarget['dynamodb']): DynamoDBClient {
  const local = t.endpoint !== null && !process.env['AWS_ACCESS_KEY_ID'];
  return new DynamoDBClient({
    region: t.region,
    ...(t.endpoint !== null ? { endpoint: t.endpoint } : {}),
    // A local DynamoDB-compatible store accepts any credentials; real AWS uses the default chain.
    ...(local ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  });
}

async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

interface DeviceCount {
  exp: ExpectedDevice;
  seqs: Map<number, number>;
  /** Read every attribute (not only the key) to check the stored shape. */
  full: boolean;
  shapeErrors: string[];
}

async function queryDevice(ddb: DynamoDBClient, table: string, d: DeviceCount): Promise<void> {
  const seqs = new Map<number, number>();
  let start: Record<string, AttributeValue> | undefined;
  const shapeErrors: string[] = [];
  do {
    const out: QueryCommandOutput = await ddb.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: d.full ? { '#pk': 'pk' } : { '#pk': 'pk', '#sk': 'sk' },
        ExpressionAttributeValues: { ':pk': { S: partitionKey(d.exp.tenant, d.exp.device) } },
        ...(d.full ? {} : { ProjectionExpression: '#sk' }),
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    for (const item of out.Items ?? []) {
      const seq = Number(item['sk']?.N);
      seqs.set(seq, (seqs.get(seq) ?? 0) + 1);
      if (d.full && shapeErrors.length < SAMPLE) {
        const problems: string[] = [];
        if (item['tenant']?.S !== d.exp.tenant) problems.push('tenant');
        if (item['device']?.S !== d.exp.device) problems.push('device');
        if (Number(item['seq']?.N) !== seq) problems.push('seq');
        if (item['ts']?.N === undefined) problems.push('ts');
        if (item['type']?.S === undefined) problems.push('type');
        if (item['data']?.M === undefined && item['data']?.S === undefined) problems.push('data');
        if (problems.length > 0) shapeErrors.push(`${partitionKey(d.exp.tenant, d.exp.device)}/${seq}: ${problems.join(', ')} missing or wrong`);
      }
    }
    start = out.LastEvaluatedKey;
  } while (start);
  d.seqs = seqs;
  d.shapeErrors = shapeErrors;
}

function countDevice(d: DeviceCount): { stored: number; missing: number; duplicates: number; unexpected: number; missingIds: string[] } {
  let stored = 0;
  let duplicates = 0;
  let unexpected = 0;
  for (const [seq, n] of d.seqs) {
    if (seq < d.exp.firstSeq || seq > d.exp.lastSeq || !Number.isInteger(seq)) {
      unexpected += n;
      continue;
    }
    stored++;
    duplicates += n - 1;
  }
  const total = Math.max(0, d.exp.lastSeq - d.exp.firstSeq + 1);
  const missingIds: string[] = [];
  if (stored < total) {
    for (let s = d.exp.firstSeq; s <= d.exp.lastSeq && missingIds.length < SAMPLE; s++) if (!d.seqs.has(s)) missingIds.push(eventId(d.exp.tenant, d.exp.device, s));
  }
  return { stored, missing: total - stored, duplicates, unexpected, missingIds };
}

export async function verifyStores(devices: ExpectedDevice[], target: VerifyTarget, opts: VerifyOptions): Promise<VerifyResult> {
  const started = Date.now();
  const deadline = started + opts.waitMs;
  const pollMs = opts.pollMs ?? 1000;
  const expected = devices.reduce((n, d) => n + Math.max(0, d.lastSeq - d.firstSeq + 1), 0);
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

  // ---- DynamoDB: query each device's partition until complete or the deadline
  const ddb = dynamoClient(target.dynamodb);
  const seenTenants = new Set<string>();
  const counts: DeviceCount[] = devices.map((exp) => {
    const full = !seenTenants.has(exp.tenant);
    seenTenants.add(exp.tenant);
    return { exp, seqs: new Map(), full, shapeErrors: [] };
  });
  let ddbError: string | undefined;
  let todo = counts;
  for (;;) {
    try {
      await pool(todo, opts.concurrency ?? 8, (d) => queryDevice(ddb, target.dynamodb.table, d));
      ddbError = undefined;
    } catch (e) {
      ddbError = (e as Error).name === 'ResourceNotFoundException' ? `table ${target.dynamodb.table} not found` : (e as Error).message;
    }
    todo = counts.filter((d) => countDevice(d).missing > 0);
    if ((todo.length === 0 && !ddbError) || Date.now() >= deadline) break;
    opts.onWait?.(`waiting for DynamoDB: ${todo.length} devices incomplete`);
    await sleep(pollMs);
  }
  ddb.destroy();
  const dynamo: VerifyResult['dynamodb'] = {
    table: target.dynamodb.table,
    stored: 0,
    missing: 0,
    duplicates: 0,
    unexpected: 0,
    devicesWithLoss: 0,
    sampleMissing: [],
    shapeErrors: [],
  };
  for (const d of counts) {
    const c = countDevice(d);
    dynamo.stored += c.stored;
    dynamo.missing += c.missing;
    dynamo.duplicates += c.duplicates;
    dynamo.unexpected += c.unexpected;
    if (c.missing > 0) dynamo.devicesWithLoss++;
    for (const id of c.missingIds) if (dynamo.sampleMissing.length < SAMPLE) dynamo.sampleMissing.push(id);
    for (const e of d.shapeErrors) if (dynamo.shapeErrors.length < SAMPLE) dynamo.shapeErrors.push(e);
  }
  if (ddbError) dynamo.error = ddbError;

  // ---- OpenSearch: refresh, then look every expected _id up, until all are found or the deadline
  const os = new OpenSearchClient({ node: target.opensearch.node });
  const index = target.opensearch.index;
  const hits = new Map<string, number>();
  let pending: string[] = [];
  for (const d of devices) for (let s = d.firstSeq; s <= d.lastSeq; s++) pending.push(eventId(d.tenant, d.device, s));
  let osError: string | undefined;
  for (;;) {
    try {
      await os.indices.refresh({ index });
      const still: string[] = [];
      for (let i = 0; i < pending.length; i += IDS_PER_SEARCH) {
        const ids = pending.slice(i, i + IDS_PER_SEARCH);
        const res = await os.search({
          index,
          body: { query: { ids: { values: ids } }, _source: false, size: ids.length * 2, track_total_hits: true },
        });
        const found = new Map<string, number>();
        for (const h of res.body.hits.hits) if (h._id !== undefined) found.set(h._id, (found.get(h._id) ?? 0) + 1);
        for (const id of ids) {
          const n = found.get(id) ?? 0;
          if (n === 0) still.push(id);
          else hits.set(id, n);
        }
      }
      pending = still;
      osError = undefined;
    } catch (e) {
      const err = e as { meta?: { statusCode?: number; body?: { error?: { type?: string } } }; message: string };
      osError = err.meta?.body?.error?.type === 'index_not_found_exception' ? `index ${index} not found` : err.message;
    }
    if ((pending.length === 0 && !osError) || Date.now() >= deadline) break;
    opts.onWait?.(`waiting for OpenSearch: ${pending.length} documents not indexed yet`);
    await sleep(pollMs);
  }
  await os.close();
  let dupDocs = 0;
  for (const n of hits.values()) dupDocs += n - 1;
  const search: VerifyResult['opensearch'] = {
    index,
    indexed: hits.size,
    missing: pending.length,
    duplicates: dupDocs,
    sampleMissing: pending.slice(0, SAMPLE),
  };
  if (osError) search.error = osError;

  const ok =
    !dynamo.error && !search.error && dynamo.missing === 0 && dynamo.duplicates === 0 && dynamo.unexpected === 0 && dynamo.shapeErrors.length === 0 && search.missing === 0 && search.duplicates === 0;
  return { ok, expected, waitedSec: Math.round((Date.now() - started) / 100) / 10, dynamodb: dynamo, opensearch: search };
}
