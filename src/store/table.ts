// The events table: created on demand with the project's key design (docs/storage.md), idempotently.
import { CreateTableCommand, DescribeTableCommand, type DynamoDBClient, type DescribeTableCommandOutput } from '@aws-sdk/client-dynamodb';
import { PARTITION_KEY, SORT_KEY } from './item.js';

/** The table's key schema does not match ours: writing into it would fail or scatter events. */
export class TableSchemaError extends Error {
  constructor(table: string, found: string) {
    super(`DynamoDB table ${table} exists with key schema ${found}; expected ${PARTITION_KEY} (S, HASH) + ${SORT_KEY} (N, RANGE)`);
    this.name = 'TableSchemaError';
  }
}

function describeKeys(t: DescribeTableCommandOutput['Table']): string {
  const types = new Map((t?.AttributeDefinitions ?? []).map((a) => [a.AttributeName, a.AttributeType]));
  return (t?.KeySchema ?? []).map((k) => `${k.AttributeName} (${types.get(k.AttributeName)}, ${k.KeyType})`).join(' + ') || 'none';
}

function hasOurKeys(t: DescribeTableCommandOutput['Table']): boolean {
  return describeKeys(t) === `${PARTITION_KEY} (S, HASH) + ${SORT_KEY} (N, RANGE)`;
}

async function describe(client: DynamoDBClient, table: string): Promise<DescribeTableCommandOutput['Table'] | null> {
  try {
    return (await client.send(new DescribeTableCommand({ TableName: table }))).Table ?? null;
  } catch (err) {
    if ((err as { name?: string }).name === 'ResourceNotFoundException') return null;
    throw err;
  }
}

/**
 * Creates the events table if it does not exist (on-demand billing) and waits until it is ACTIVE.
 * Idempotent: safe to call from every bridge instance at start. Key design: see docs/storage.md.
 */
export async function ensureEventsTable(client: DynamoDBClient, table: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let t = await describe(client, table);
  if (!t) {
    try {
      await client.send(
        new CreateTableCommand({
          TableName: table,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: PARTITION_KEY, AttributeType: 'S' },
            { AttributeName: SORT_KEY, AttributeType: 'N' },
          ],
          KeySchema: [
            { AttributeName: PARTITION_KEY, KeyType: 'HASH' },
            { AttributeName: SORT_KEY, KeyType: 'RANGE' },
          ],
        }),
      );
    } catch (err) {
      // Another instance created it between our describe and our create.
      if ((err as { name?: string }).name !== 'ResourceInUseException') throw err;
    }
  }
  // Poll briefly rather than use the SDK waiter: its minimum delay (20 s) would stall every start.
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    t = await describe(client, table);
    if (t && !hasOurKeys(t)) throw new TableSchemaError(table, describeKeys(t));
    if (t?.TableStatus === 'ACTIVE') return;
    if (Date.now() > deadline) throw new Error(`DynamoDB table ${table} not ACTIVE after ${timeoutMs} ms (status ${t?.TableStatus ?? 'missing'})`);
    await new Promise((r) => setTimeout(r, delay));
  }
}
