// Pure item mapping and sizing (src/store/item.ts), plus a cross-check of the unit rule against dynalite's
// ConsumedCapacity, which reproduces the real service's accounting.
import { PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  attributeValueSize,
  decimalParts,
  eventItem,
  fromAttributeValue,
  itemSize,
  numberSize,
  partitionKey,
  plainDecimal,
  toAttributeValue,
  writeUnits,
  writeUnitsForSize,
  type AnyAttributeValue,
} from '../src/store/item.js';
import { ensureEventsTable } from '../src/store/table.js';
import { createDynamoClient } from '../src/store/dynamo-client.js';
import { startDynalite, type DynaliteHandle } from '../src/stack/dynalite-server.js';
import { loadConfig } from '../src/config/load.js';

describe('decimalParts / plainDecimal', () => {
  it.each([
    ['0', { negative: false, digits: '', exponent: 0 }, '0'],
    ['-0', { negative: false, digits: '', exponent: 0 }, '0'],
    ['123', { negative: false, digits: '123', exponent: 2 }, '123'],
    ['100', { negative: false, digits: '1', exponent: 2 }, '100'],
    ['1.50', { negative: false, digits: '15', exponent: 0 }, '1.5'],
    ['0.05', { negative: false, digits: '5', exponent: -2 }, '0.05'],
    ['-42', { negative: true, digits: '42', exponent: 1 }, '-42'],
    ['1e+21', { negative: false, digits: '1', exponent: 21 }, '1000000000000000000000'],
    ['1.5e-7', { negative: false, digits: '15', exponent: -7 }, '0.00000015'],
    ['00012.3400', { negative: false, digits: '1234', exponent: 1 }, '12.34'],
  ])('%s', (text, parts, plain) => {
    expect(decimalParts(text)).toEqual(parts);
    expect(plainDecimal(decimalParts(text))).toBe(plain);
  });

  it.each(['', 'abc', '1.2.3', 'e5', '.'])('rejects %j', (text) => {
    expect(() => decimalParts(text)).toThrow(RangeError);
  });
});

describe('attribute sizes (DynamoDB item size rules)', () => {
  const cases: Array<[string, AnyAttributeValue, number]> = [
    ['ASCII string', { S: 'abc' }, 3],
    ['empty string', { S: '' }, 0],
    ['UTF-8 string counts bytes', { S: 'é€' }, 5],
    ['number 0', { N: '0' }, 1],
    ['number 5', { N: '5' }, 2],
    ['number 12 (one pair)', { N: '12' }, 2],
    ['number 123', { N: '123' }, 3],
    ['number 1.2 (pair split by the point)', { N: '1.2' }, 3],
    ['number 100 (trailing zeros trimmed)', { N: '100' }, 2],
    ['number -5 (negative adds a byte)', { N: '-5' }, 3],
    ['number of 17 digits', { N: '12345678901234567' }, 10],
    ['boolean', { BOOL: true }, 1],
    ['null', { NULL: true }, 1],
    ['binary from the wire (base64)', { B: Buffer.from('hello').toString('base64') }, 5],
    ['binary from the SDK (bytes)', { B: new Uint8Array(7) }, 7],
    ['string set', { SS: ['a', 'bc'] }, 3],
    ['empty list', { L: [] }, 3],
    ['list: 3 + 1 per element + elements', { L: [{ S: 'a' }, { N: '5' }] }, 3 + 1 + 1 + 1 + 2],
    ['empty map', { M: {} }, 3],
    ['map: element names count', { M: { key: { S: 'v' }, n: { BOOL: false } } }, 3 + (1 + 3 + 1) + (1 + 1 + 1)],
    ['nested map', { M: { a: { L: [{ NULL: true }] } } }, 3 + (1 + 1 + (3 + 1 + 1))],
  ];
  it.each(cases)('%s', (_name, av, bytes) => {
    expect(attributeValueSize(av)).toBe(bytes);
  });

  it('numberSize agrees with attributeValueSize', () => {
    expect(numberSize('-1.25')).toBe(attributeValueSize({ N: '-1.25' }));
  });

  it('item size adds attribute names', () => {
    expect(itemSize({ pk: { S: 'a#b' }, sk: { N: '7' } })).toBe(2 + 3 + 2 + 2);
  });
});

describe('write units', () => {
  it.each([
    [0, 1],
    [1, 1],
    [1024, 1],
    [1025, 2],
    [2048, 2],
    [400 * 1024, 400],
  ])('%d bytes → %d units', (bytes, units) => {
    expect(writeUnitsForSize(bytes)).toBe(units);
  });
});

describe('toAttributeValue / fromAttributeValue', () => {
  const cases: Array<[string, unknown, unknown, unknown]> = [
    ['object', { grams: 4120, ok: true, tag: 'x', none: null }, { M: { grams: { N: '4120' }, ok: { BOOL: true }, tag: { S: 'x' }, none: { NULL: true } } }, undefined],
    ['array', [1, 'a', [false]], { L: [{ N: '1' }, { S: 'a' }, { L: [{ BOOL: false }] }] }, undefined],
    ['fraction in plain decimal', 0.000001, { N: '0.000001' }, undefined],
    ['big number in plain decimal', 1e21, { N: '1000000000000000000000' }, undefined],
    ['number too large for DynamoDB kept as text', 1e200, { S: '1e+200' }, '1e+200'],
    ['number too small for DynamoDB kept as text', 1e-200, { S: '1e-200' }, '1e-200'],
    ['undefined members dropped like JSON', { a: undefined, b: 1 }, { M: { b: { N: '1' } } }, { b: 1 }],
    ['non-finite becomes null like JSON', Number.NaN, { NULL: true }, null],
    ['empty string allowed', '', { S: '' }, undefined],
  ];
  it.each(cases)('%s', (_name, json, av, back) => {
    expect(toAttributeValue(json)).toEqual(av);
    expect(fromAttributeValue(toAttributeValue(json) as never)).toEqual(back === undefined ? json : back);
  });

  it('refuses values JSON cannot carry', () => {
    expect(() => toAttributeValue(10n)).toThrow(TypeError);
  });
});

describe('eventItem', () => {
  it('carries the key, the contract attributes and acceptedAt', () => {
    const item = eventItem('acme', 'scale-1', 1764806400123, { seq: 601, ts: 1764806400000, type: 'weight', data: { grams: 4120 } });
    expect(item).toEqual({
      pk: { S: 'acme#scale-1' },
      sk: { N: '601' },
      tenant: { S: 'acme' },
      device: { S: 'scale-1' },
      seq: { N: '601' },
      ts: { N: '1764806400000' },
      type: { S: 'weight' },
      data: { M: { grams: { N: '4120' } } },
      acceptedAt: { N: '1764806400123' },
    });
    expect(partitionKey('acme', 'scale-1')).toBe('acme#scale-1');
  });
});

// dynalite's ConsumedCapacity reproduces DynamoDB's accounting (its tests run against the real service).
describe('units agree with dynalite ConsumedCapacity', () => {
  let dyn: DynaliteHandle;
  let client: DynamoDBClient;
  const table = 'units-check';
  beforeAll(async () => {
    dyn = await startDynalite();
    client = createDynamoClient(loadConfig({ overrides: { dynamodb: { endpoint: dyn.endpoint } } }));
    await ensureEventsTable(client, table);
  });
  afterAll(async () => {
    client?.destroy();
    await dyn?.stop();
  });

  // A distinct seq per case: DynamoDB charges an overwrite for the larger of the old and the new item.
  let seq = 1000;
  const sized = (dataChars: number, extra: Record<string, unknown> = {}) =>
    eventItem('t', 'd', 1764806400123, { seq: seq++, ts: 1764806400000, type: 'x', data: { s: 'a'.repeat(dataChars), ...extra } });
  const base = itemSize(sized(0));
  const cases: Array<[string, ReturnType<typeof sized>]> = [
    ['small event', sized(10, { n: 12.5, list: [1, 2, 3], flag: true })],
    ['exactly 1 KB', sized(1024 - base)],
    ['1 KB + 1 byte', sized(1025 - base)],
    ['about 3.5 KB', sized(3500)],
    ['numbers of every parity', sized(1000, { a: -1.5, b: 100, c: 0.05, d: 123456, e: 1e21 })],
  ];
  it.each(cases)('%s', async (_name, item) => {
    const res = await client.send(new PutItemCommand({ TableName: table, Item: item, ReturnConsumedCapacity: 'TOTAL' }));
    expect(res.ConsumedCapacity?.CapacityUnits).toBe(writeUnits(item));
  });
});
