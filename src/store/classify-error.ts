// The one place that decides what a DynamoDB failure means for the store stage. Everything else asks here.
// Classification uses the SDK error's `name` (the service's __type, after the '#'): never the message text.

export type StoreErrorKind =
  /** DynamoDB refused for capacity: back off, slow the pacer, retry the same items. Never fails a job. */
  | 'throttled'
  /** Transient (endpoint down, 5xx, timeout): retry the job with backoff as a last resort. */
  | 'retryable'
  /** The request itself is wrong: retrying unchanged can never succeed. */
  | 'permanent';

/** Throttling names of the DynamoDB API ("Error handling with DynamoDB", Developer Guide). */
const THROTTLING = new Set(['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded']);

/** 4xx names that no retry can fix. */
const PERMANENT = new Set([
  'ValidationException',
  'SerializationException',
  'ItemCollectionSizeLimitExceededException',
  'AccessDeniedException',
  'UnrecognizedClientException',
  'MissingAuthenticationTokenException',
  'IncompleteSignatureException',
  'InvalidSignatureException',
  'ConditionalCheckFailedException',
]);

interface ErrorLike {
  name?: unknown;
}

export function classifyStoreError(err: unknown): StoreErrorKind {
  const e = (typeof err === 'object' && err !== null ? err : {}) as ErrorLike;
  const name = typeof e.name === 'string' ? e.name : '';
  if (THROTTLING.has(name)) return 'throttled';
  if (PERMANENT.has(name)) return 'permanent';
  // Everything else — ResourceNotFoundException while a table is being (re)created, InternalServerError,
  // ServiceUnavailable, TimeoutError, ECONNREFUSED/ECONNRESET (Node system errors carry `code`), unknown
  // names — is treated as transient: the writes are idempotent, so a retry costs little and loses nothing.
  return 'retryable';
}
