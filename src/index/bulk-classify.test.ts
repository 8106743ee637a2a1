import { describe, expect, it } from 'vitest';
import {
  classifyBulkResponse,
  classifyItem,
  classifyRequestFailure,
  signalsOfFailure,
  signalsOfItems,
  type BulkItemResult,
  type ItemVerdict,
  type RequestFailure,
  type RequestVerdict,
  type AttemptSignals,
} from './bulk-classify.js';

describe('classifyItem', () => {
  const cases: Array<[string, BulkItemResult, ItemVerdict]> = [
    ['201 created', { status: 201 }, { kind: 'ok' }],
    ['200 ok', { status: 200 }, { kind: 'ok' }],
    ['409 version conflict: duplicate', { status: 409, error: { type: 'version_conflict_engine_exception' } }, { kind: 'duplicate' }],
    ['429 shard rejection: throttled retry', { status: 429, error: { type: 'es_rejected_execution_exception' } }, { kind: 'retry', status: 429, throttled: true }],
    ['429 circuit breaking: throttled retry', { status: 429, error: { type: 'circuit_breaking_exception' } }, { kind: 'retry', status: 429, throttled: true }],
    ['rejected execution under another status: throttled retry', { status: 503, error: { type: 'es_rejected_execution_exception' } }, { kind: 'retry', status: 503, throttled: true }],
    ['503 unavailable shards: retry', { status: 503, error: { type: 'unavailable_shards_exception' } }, { kind: 'retry', status: 503, throttled: false }],
    ['500: retry', { status: 500, error: { type: 'illegal_state_exception' } }, { kind: 'retry', status: 500, throttled: false }],
    ['400 mapping error: permanent, reason kept for the log', { status: 400, error: { type: 'mapper_parsing_exception', reason: 'failed to parse field [ts]' } }, { kind: 'permanent', status: 400, errorType: 'mapper_parsing_exception', reason: 'failed to parse field [ts]' }],
    ['404 index missing: permanent', { status: 404, error: { type: 'index_not_found_exception' } }, { kind: 'permanent', status: 404, errorType: 'index_not_found_exception' }],
    ['4xx without error body: permanent, named by status', { status: 413 }, { kind: 'permanent', status: 413, errorType: 'http_413' }],
  ];
  it.each(cases)('%s', (_name, item, want) => expect(classifyItem(item)).toEqual(want));
});

describe('classifyRequestFailure and signals', () => {
  const cases: Array<[string, RequestFailure, RequestVerdict, AttemptSignals]> = [
    ['whole-request 429', { transport: 'response', status: 429 }, { kind: 'retry', throttled: true }, { limiter: 'overload', breaker: 'success' }],
    ['502 bad gateway', { transport: 'response', status: 502 }, { kind: 'retry', throttled: false }, { limiter: 'ignore', breaker: 'failure' }],
    ['503 unavailable', { transport: 'response', status: 503 }, { kind: 'retry', throttled: false }, { limiter: 'overload', breaker: 'failure' }],
    ['504 gateway timeout', { transport: 'response', status: 504 }, { kind: 'retry', throttled: false }, { limiter: 'overload', breaker: 'failure' }],
    ['500', { transport: 'response', status: 500 }, { kind: 'retry', throttled: false }, { limiter: 'ignore', breaker: 'failure' }],
    ['401: held, not dropped', { transport: 'response', status: 401 }, { kind: 'retry', throttled: false }, { limiter: 'ignore', breaker: 'failure' }],
    ['403: held, not dropped', { transport: 'response', status: 403 }, { kind: 'retry', throttled: false }, { limiter: 'ignore', breaker: 'failure' }],
    ['400 malformed request: permanent', { transport: 'response', status: 400 }, { kind: 'permanent', status: 400 }, { limiter: 'ignore', breaker: 'success' }],
    ['413 too large: permanent', { transport: 'response', status: 413 }, { kind: 'permanent', status: 413 }, { limiter: 'ignore', breaker: 'success' }],
    ['connection refused', { transport: 'connection' }, { kind: 'retry', throttled: false }, { limiter: 'ignore', breaker: 'failure' }],
    ['timeout', { transport: 'timeout' }, { kind: 'retry', throttled: false }, { limiter: 'overload', breaker: 'failure' }],
    ['malformed 2xx', { transport: 'malformed' }, { kind: 'retry', throttled: false }, { limiter: 'ignore', breaker: 'failure' }],
  ];
  it.each(cases)('%s', (_name, f, verdict, signals) => {
    expect(classifyRequestFailure(f)).toEqual(verdict);
    expect(signalsOfFailure(f)).toEqual(signals);
  });

  it('items: any throttled item is overload, other retries and failures are not', () => {
    expect(signalsOfItems([{ kind: 'ok' }, { kind: 'duplicate' }])).toEqual({ limiter: 'ok', breaker: 'success' });
    expect(signalsOfItems([{ kind: 'ok' }, { kind: 'retry', status: 429, throttled: true }])).toEqual({ limiter: 'overload', breaker: 'success' });
    expect(signalsOfItems([{ kind: 'retry', status: 500, throttled: false }, { kind: 'permanent', status: 400, errorType: 'x' }])).toEqual({ limiter: 'ok', breaker: 'success' });
  });
});

describe('classifyBulkResponse', () => {
  it('maps items in order', () => {
    const body = {
      took: 3,
      errors: true,
      items: [
        { create: { _id: 'a', status: 201 } },
        { create: { _id: 'b', status: 409, error: { type: 'version_conflict_engine_exception' } } },
        { create: { _id: 'c', status: 429, error: { type: 'es_rejected_execution_exception' } } },
      ],
    };
    expect(classifyBulkResponse(body, 3)).toEqual([{ kind: 'ok' }, { kind: 'duplicate' }, { kind: 'retry', status: 429, throttled: true }]);
  });

  it.each([
    ['not an object', 'oops', 1],
    ['no items', { errors: false }, 1],
    ['fewer items than sent', { items: [{ create: { status: 201 } }] }, 2],
    ['an item without status', { items: [{ create: {} }] }, 1],
    ['a null item', { items: [null] }, 1],
  ])('rejects a body it cannot trust: %s', (_n, body, sent) => {
    expect(classifyBulkResponse(body, sent as number)).toBeNull();
  });
});
