// The capacity proxy (src/testing/capacity-proxy.ts) in front of real dynalite, driven by the real SDK client:
// it must throttle the way DynamoDB does, since the store stage's throttling tests rely on it.
import { BatchWriteItemCommand, GetItemCommand, PutItemCommand, type DynamoDBClient, type WriteRequest } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { startDynalite, type DynaliteHandle } from '../src/stack/dynalite-server.js';
import { createDynamoClient } from '../src/store/dynamo-client.js';
import { eventItem, writeUnits } from '../src/store/item.js';
import { ensureEventsTable } from '../src/store/table.js';
import { startCapacityProxy, type CapacityProxy } from '../src/testing/capacity-proxy.js';
import { makeEvents } from './store-support.js';

const TABLE = 'proxy-test';
let dynalite: DynaliteHandle;
let proxy: CapacityProxy;
let client: DynamoDBClient;
let direct: DynamoDBClient;
// The proxy's clock, moved by hand: each test starts in a fresh 1-second window.
let clock = 1_000_000_000;

const puts = (device: string, from: number, to: number, dataBytes = 0): WriteRequest[] =>
  makeEvents(from, to, dataBytes).map((ev) => ({ PutRequest: { Item: eventItem('t', device, 1, ev) } }));

async function stored(device: string, seqs: number[]): Promise<number> {
  let n = 0;
  for (const seq of seqs) {
    const r = await direct.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: `t#${device}` }, sk: { N: String(seq) } } }));
    if (r.Item) n++;
  }
  return n;
}

beforeAll(async () => {
  dynalite = await startDynalite();
  proxy = await startCapacityProxy({ target: dynalite.endpoint, tableWcu: 10, partitionWcu: 6, now: () => clock });
  const config = loadConfig({ overrides: { dynamodb: { endpoint: proxy.endpoint } }, env: {} });
  client = createDynamoClient(config);
  direct = createDynamoClient(config, { endpoint: dynalite.endpoint });
  await ensureEventsTable(client, TABLE);
});
beforeEach(() => {
  clock += 1000;
  proxy.resetStats();
});
afterAll(async () => {
  client?.destroy();
  direct?.destroy();
  await proxy?.stop();
  await dynalite?.stop();
});

describe('capacity proxy', () => {
  it('forwards what fits in the window and returns the rest in UnprocessedItems', async () => {
    const res = await client.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: [...puts('a', 1, 5), ...puts('b', 1, 5), ...puts('c', 1, 5)] } }));
    // Table limit 10, partition limit 6: a 5 + b 5 fit, c is over the table limit.
    expect(res.UnprocessedItems?.[TABLE]?.map((w) => w.PutRequest?.Item?.['pk']?.S)).toEqual(['t#c', 't#c', 't#c', 't#c', 't#c']);
    expect(await stored('a', [1, 2, 3, 4, 5])).toBe(5);
    expect(await stored('c', [1, 2, 3, 4, 5])).toBe(0);
    const s = proxy.stats();
    expect(s.windows).toHaveLength(1);
    expect(s.windows[0]).toMatchObject({ units: 10, items: 10, partitions: { 't#a': 5, 't#b': 5 }, unprocessedItems: 5 });
  });

  it('answers 400 ProvisionedThroughputExceededException when nothing fits', async () => {
    await client.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: puts('d', 1, 6) } }));
    await client.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: puts('e', 1, 4) } }));
    const err = await client.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: puts('f', 1, 1) } })).catch((e: unknown) => e);
    expect((err as Error).name).toBe('ProvisionedThroughputExceededException');
    expect((err as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode).toBe(400);
    const err2 = await client.send(new PutItemCommand({ TableName: TABLE, Item: puts('f', 2, 2)[0]!.PutRequest!.Item })).catch((e: unknown) => e);
    expect((err2 as Error).name).toBe('ProvisionedThroughputExceededException');
    expect(proxy.stats().totals).toMatchObject({ units: 10, throttledRequests: 2 });
  });

  it('enforces the per-partition limit and counts write units by item size', async () => {
    // 2.5 KB items cost 3 units: two fit in a partition of 6, the third does not.
    const big = puts('g', 1, 3, 2500);
    expect(big.map((w) => writeUnits(w.PutRequest!.Item!))).toEqual([3, 3, 3]);
    const res = await client.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: big } }));
    expect(res.UnprocessedItems?.[TABLE]).toHaveLength(1);
    expect(proxy.stats().windows[0]).toMatchObject({ units: 6, partitions: { 't#g': 6 } });
  });

  it('starts a fresh allowance in the next 1-second window', async () => {
    await client.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: [...puts('h', 1, 5), ...puts('i', 1, 5)] } }));
    clock += 1000;
    const res = await client.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: [...puts('h', 6, 10), ...puts('i', 6, 10)] } }));
    expect(res.UnprocessedItems?.[TABLE] ?? []).toHaveLength(0);
    expect(proxy.stats().windows.map((w) => w.units)).toEqual([10, 10]);
  });

  it('throttles everything during a burst window, then recovers', async () => {
    proxy.throttleFor(500);
    const err = await client.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: puts('j', 1, 1) } })).catch((e: unknown) => e);
    expect((err as Error).name).toBe('ProvisionedThroughputExceededException');
    clock += 600;
    const res = await client.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: puts('j', 1, 1) } }));
    expect(res.UnprocessedItems?.[TABLE] ?? []).toHaveLength(0);
  });

  it('passes reads and table calls through unmetered', async () => {
    const r = await client.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 't#a' }, sk: { N: '1' } } }));
    expect(r.Item?.['seq']?.N).toBe('1');
    expect(proxy.stats().totals.writeRequests).toBe(0);
  });
});
