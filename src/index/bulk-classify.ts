// The one classifier of the search stage: what a bulk answer means for each document, for the adaptive
// concurrency limit and for the circuit breaker. Every decision about "retry or not", "is this
// back-pressure", "is OpenSearch down" is made here, from status codes and structured error types,
// never from message text.
import type { LimiterOutcome } from '../delivery/adaptive-concurrency.js';

/** One item of a bulk response: `{ create: { status, error? } }` unwrapped. */
export interface BulkItemResult {
  status: number;
  error?: { type?: string; reason?: string } | null;
}

export type ItemVerdict =
  /** Created. */
  | { kind: 'ok' }
  /** 409 on create: the document already exists. The event is already searchable; count it, move on. */
  | { kind: 'duplicate' }
  /** The shard could not take it now (throttled) or failed transiently: resend this item alone later. */
  | { kind: 'retry'; status: number; throttled: boolean }
  /** OpenSearch will never accept this document as sent (mapping error, invalid id…): log, count, drop. */
  | { kind: 'permanent'; status: number; errorType: string; reason?: string };

// A shard-level rejection is reported as 429 in OpenSearch 2.x, but older nodes and some proxies report
// the thread-pool rejection with another status: its structured type is the reliable signal.
const REJECTED_EXECUTION = 'es_rejected_execution_exception';

export function classifyItem(item: BulkItemResult): ItemVerdict {
  const { status } = item;
  if (status >= 200 && status < 300) return { kind: 'ok' };
  if (status === 409) return { kind: 'duplicate' };
  const type = item.error?.type ?? '';
  if (status === 429 || type === REJECTED_EXECUTION) return { kind: 'retry', status, throttled: true };
  if (status >= 500) return { kind: 'retry', status, throttled: false };
  // The reason text is carried for the log line only; nothing is decided from it.
  const reason = item.error?.reason ?? undefined;
  return { kind: 'permanent', status, errorType: type || `http_${status}`, ...(reason ? { reason: reason.slice(0, 300) } : {}) };
}

/** A bulk request that got no usable bulk answer, as the service adapter saw it. */
export type RequestFailure =
  /** An HTTP answer that is not a bulk result (the whole request was refused). */
  | { transport: 'response'; status: number }
  /** Refused or reset connection, DNS, no living node: nothing was answered. */
  | { transport: 'connection' }
  /** No answer within the request timeout. */
  | { transport: 'timeout' }
  /** A 2xx whose body could not be read as a bulk result (truncated, wrong item count). */
  | { transport: 'malformed' };

export type RequestVerdict =
  /** Resend every document of the bulk after backoff. */
  | { kind: 'retry'; throttled: boolean }
  /** The request itself can never succeed: every document of it is a permanent failure. */
  | { kind: 'permanent'; status: number };

export function classifyRequestFailure(f: RequestFailure): RequestVerdict {
  if (f.transport !== 'response') return { kind: 'retry', throttled: false };
  const s = f.status;
  if (s === 429) return { kind: 'retry', throttled: true };
  // 5xx and request timeouts: the node is overloaded, restarting or behind a failing proxy.
  // 401/403: credentials or permissions are wrong. The documents are fine and an operator can fix
  // the cause: hold them (the breaker opens, lag grows, the edge defers) rather than drop them.
  if (s >= 500 || s === 408 || s === 401 || s === 403) return { kind: 'retry', throttled: false };
  return { kind: 'permanent', status: s };
}

/** What one bulk attempt teaches the concurrency limit and the breaker. */
export interface AttemptSignals {
  limiter: LimiterOutcome;
  /** success: OpenSearch answered (even 429: it is up and talking); failure: no answer or a server error. */
  breaker: 'success' | 'failure';
}

export function signalsOfItems(verdicts: readonly ItemVerdict[]): AttemptSignals {
  // Any throttled item means a shard's write queue was full: that is back-pressure, even if most items
  // went through (the limiter also sees latency above target as back-pressure).
  const throttled = verdicts.some((v) => v.kind === 'retry' && v.throttled);
  return { limiter: throttled ? 'overload' : 'ok', breaker: 'success' };
}

export function signalsOfFailure(f: RequestFailure): AttemptSignals {
  switch (f.transport) {
    case 'connection':
      // Nothing was answered: capacity is unknown, the breaker counts it.
      return { limiter: 'ignore', breaker: 'failure' };
    case 'timeout':
      return { limiter: 'overload', breaker: 'failure' };
    case 'malformed':
      return { limiter: 'ignore', breaker: 'failure' };
    case 'response': {
      const s = f.status;
      if (s === 429) return { limiter: 'overload', breaker: 'success' };
      if (s === 503 || s === 504 || s === 408) return { limiter: 'overload', breaker: 'failure' };
      if (s >= 500 || s === 401 || s === 403) return { limiter: 'ignore', breaker: 'failure' };
      return { limiter: 'ignore', breaker: 'success' };
    }
  }
}

/**
 * Maps a bulk response body to one verdict per sent document, in order. A body whose item count does
 * not match what was sent cannot be trusted item by item: `null` (the caller treats it as malformed).
 */
export function classifyBulkResponse(body: unknown, sent: number): ItemVerdict[] | null {
  if (typeof body !== 'object' || body === null) return null;
  const items = (body as { items?: unknown }).items;
  if (!Array.isArray(items) || items.length !== sent) return null;
  const out: ItemVerdict[] = new Array(sent);
  for (let i = 0; i < sent; i++) {
    const wrapper = items[i] as Record<string, BulkItemResult> | null;
    const result = wrapper && (wrapper.create ?? wrapper.index ?? Object.values(wrapper)[0]);
    if (!result || typeof result.status !== 'number') return null;
    out[i] = classifyItem(result);
  }
  return out;
}
