// ensureEventsTable against real dynalite: idempotent creation with the project's key design, and a clear
// refusal of a same-named table with another key schema.
import { CreateTableCommand, DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { startDynalite, type DynaliteHandle } from '../src/stack/dynalite-server.js';
import { createDynamoClient, isLocalEndpoint } from '../src/store/dynamo-client.js';
import { ensureEventsTable, TableSchemaError } from '../src/store/table.js';

let dyn: DynaliteHandle;
let client: DynamoDBClient;
beforeAll(async () => {
  dyn = await startDynalite();
  client = createDynamoClient(loadConfig({ overrides: { dynamodb: { endpoint: dyn.endpoint } }, env: {} }));
});
afterAll(async () => {
  client?.destroy();
  await dyn?.stop();
});

describe('ensureEventsTable', () => {
  it('creates an on-demand table keyed pk (S) + sk (N), and is idempotent', async () => {
    await Promise.all([ensureEventsTable(client, 'events-a'), ensureEventsTable(client, 'events-a')]);
    await ensureEventsTable(client, 'events-a');
    const t = (await client.send(new DescribeTableCommand({ TableName: 'events-a' }))).Table!;
    expect(t.TableStatus).toBe('ACTIVE');
    expect(t.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(t.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
  });

  it('refuses a table of the same name with another key schema', async () => {
    await client.send(
      new CreateTableCommand({
        TableName: 'events-b',
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      }),
    );
    await expect(ensureEventsTable(client, 'events-b')).rejects.toBeInstanceOf(TableSchemaError);
  });
});

describe('createDynamoClient', () => {
  it.each([
    ['http://127.0.0.1:8000', true],
    ['http://localhost:8000', true],
    ['http://[::1]:8000', true],
    ['https://dynamodb.eu-west-1.amazonaws.com', false],
    [null, false],
    ['not a url', false],
  ])('%s is local: %s', (endpoint, local) => {
    expect(isLocalEndpoint(endpoint)).toBe(local);
  });

  it('makes one attempt per call: the writer is the only retry layer', async () => {
    const c = createDynamoClient(loadConfig({ overrides: { dynamodb: { endpoint: 'http://127.0.0.1:9' } }, env: {} }));
    expect(await c.config.maxAttempts()).toBe(1);
    c.destroy();
  });
});
