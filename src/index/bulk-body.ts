// Packing documents into bulk requests bounded by opensearch.bulk.maxDocs and maxBytes.
// Bounded downstream (contract invariant 3): no bulk request body may exceed either cap.

export interface BulkCaps {
  /** Most documents in one bulk request. */
  maxDocs: number;
  /** Most bytes in one bulk request body. */
  maxBytes: number;
}

export interface Sized {
  /** Bytes this item adds to a bulk body. */
  bytes: number;
}

/** Whether an item can ever be sent: alone it must fit the byte cap. */
export function fitsAlone(item: Sized, caps: BulkCaps): boolean {
  return item.bytes <= caps.maxBytes;
}

/**
 * How many items from `items[start]` on go into the next bulk: the longest run within both caps.
 * Every item must fit alone (callers set the others aside first); 0 only when nothing is left.
 */
export function nextBulkLength(items: readonly Sized[], caps: BulkCaps, start = 0): number {
  let n = 0;
  let bytes = 0;
  for (let i = start; i < items.length && n < caps.maxDocs; i++) {
    const b = items[i]!.bytes;
    if (bytes + b > caps.maxBytes) break;
    bytes += b;
    n += 1;
  }
  return n;
}

/** Splits items in order into bulks within the caps; items too large to send at all come back apart. */
export function splitIntoBulks<T extends Sized>(items: readonly T[], caps: BulkCaps): { bulks: T[][]; oversized: T[] } {
  const oversized = items.filter((i) => !fitsAlone(i, caps));
  const sendable = oversized.length === 0 ? items : items.filter((i) => fitsAlone(i, caps));
  const bulks: T[][] = [];
  for (let start = 0; start < sendable.length; ) {
    const n = nextBulkLength(sendable, caps, start);
    bulks.push(sendable.slice(start, start + n));
    start += n;
  }
  return { bulks, oversized };
}

/** The NDJSON body of a bulk (each item already ends with its newline, as the _bulk API requires). */
export function bulkBody(items: readonly { ndjson: string }[]): string {
  let s = '';
  for (const i of items) s += i.ndjson;
  return s;
}
