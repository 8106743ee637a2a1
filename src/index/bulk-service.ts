// The bulk service: one bulk request = one network call, nothing else. It never retries (the
// transport's own retries are turned off: retrying is the indexer's decision, after classification)
// and never throws: every outcome comes back as a BulkAttempt for the one classifier.
import { errors, type API, type Client } from '@opensearch-project/opensearch';
import { classifyBulkResponse, type RequestFailure } from './bulk-classify.js';
import type { SendBulk } from './bulk-port.js';

/** Maps a client error to what the classifier needs, by error class (never by message text). */
export function requestFailureOf(err: unknown): RequestFailure {
  if (err instanceof errors.ResponseError) {
    const status = err.statusCode ?? err.meta?.statusCode;
    return typeof status === 'number' ? { transport: 'response', status } : { transport: 'malformed' };
  }
  if (err instanceof errors.TimeoutError) return { transport: 'timeout' };
  if (err instanceof errors.DeserializationError) return { transport: 'malformed' };
  // ConnectionError, NoLivingConnectionsError, RequestAbortedError and anything unexpected: nothing
  // usable was answered. Holding the documents (retry, breaker) is safer than dropping them.
  return { transport: 'connection' };
}

/** A log-sized description of a client error (its meta holds the whole request body). */
export function errorSummary(err: unknown): Record<string, unknown> {
  if (err instanceof errors.ResponseError) {
    const body = err.body as { error?: { type?: string; reason?: string } } | undefined;
    return { name: err.name, status: err.statusCode, type: body?.error?.type, reason: body?.error?.reason };
  }
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { message: String(err) };
}

/** `requestTimeoutMs` may be a function: read per request, so that a config reload changes it. */
export function bulkSender(client: Client, requestTimeoutMs: number | (() => number)): SendBulk {
  const timeout = typeof requestTimeoutMs === 'function' ? requestTimeoutMs : () => requestTimeoutMs;
  return async (body, docs) => {
    try {
      // The body is already NDJSON (sized exactly by the packer): the transport sends a string as is.
      const res = await client.bulk({ body: body as unknown as API.Bulk_Request['body'] }, { maxRetries: 0, requestTimeout: timeout() });
      const items = classifyBulkResponse(res.body, docs);
      if (!items) return { kind: 'failed', failure: { transport: 'malformed' } };
      return { kind: 'answered', items };
    } catch (error) {
      return { kind: 'failed', failure: requestFailureOf(error), error: errorSummary(error) };
    }
  };
}
