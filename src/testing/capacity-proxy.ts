// A capacity-enforcing HTTP proxy in front of dynalite, which never throttles. It speaks DynamoDB's JSON protocol
// (X-Amz-Target: DynamoDB_20120810.<Operation>), meters write units per 1-second window for the table and for
// each partition key, and refuses what is over the limits the way DynamoDB does: BatchWriteItem returns the items
// over the limit in UnprocessedItems (forwarding only the rest), and a request of which nothing fits gets HTTP 400
// ProvisionedThroughputExceededException. It records every accepted write per window and partition, so that
// tests and benchmarks can prove what reached "DynamoDB". Test and benchmark tool only: never in the data path.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { writeUnits, type AnyAttributeValue } from '../store/item.js';

export interface CapacityProxyOptions {
  /** The DynamoDB-compatible endpoint behind the proxy (dynalite). */
  target: string;
  /** Write units per 1-second window across the endpoint. Infinity: meter only. */
  tableWcu: number;
  /** Write units per 1-second window for one partition key value. Infinity: meter only. */
  partitionWcu: number;
  /** Name of the partition key attribute. Default 'pk'. */
  partitionKey?: string;
  /** Default: a free loopback port. */
  port?: number;
  /** Injectable clock (epoch ms). */
  now?: () => number;
}

export interface CapacityWindow {
  /** Epoch second of the window: [second × 1000, second × 1000 + 1000) ms. */
  second: number;
  /** Write units accepted (forwarded and answered 200). */
  units: number;
  items: number;
  /** Accepted write units per partition key value. */
  partitions: Record<string, number>;
  /** Requests answered 400 ProvisionedThroughputExceededException. */
  throttledRequests: number;
  /** Items returned in UnprocessedItems. */
  unprocessedItems: number;
}

export interface CapacityStats {
  /** Windows that saw any write request, oldest first. */
  windows: CapacityWindow[];
  totals: { units: number; items: number; writeRequests: number; throttledRequests: number; unprocessedItems: number };
}

export interface CapacityProxy {
  endpoint: string;
  port: number;
  stats(): CapacityStats;
  /** Refuses every write for the next `ms` (a throttling burst), as if the table's capacity had dropped to 0. */
  throttleFor(ms: number): void;
  /** Forgets the recorded windows and totals (limits keep their state). */
  resetStats(): void;
  stop(): Promise<void>;
}

const TARGET_PREFIX = 'DynamoDB_20120810.';
const JSON_CONTENT_TYPE = 'application/x-amz-json-1.0';
const THROTTLE_TYPE = 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException';

interface WriteRequestJson {
  PutRequest?: { Item: Record<string, AnyAttributeValue> };
  DeleteRequest?: { Key: Record<string, AnyAttributeValue> };
}

function attrText(av: AnyAttributeValue | undefined): string {
  if (!av) return '';
  const v = av['S'] ?? av['N'] ?? av['B'];
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: Buffer): void {
  res.writeHead(status, {
    'content-type': JSON_CONTENT_TYPE,
    'content-length': body.length,
    'x-amzn-requestid': randomUUID(),
    // The SDKs may verify this checksum of the body (DynamoDB sends it on every response).
    'x-amz-crc32': String(crc32(body) >>> 0),
  });
  res.end(body);
}

export async function startCapacityProxy(opts: CapacityProxyOptions): Promise<CapacityProxy> {
  const now = opts.now ?? Date.now;
  const pkName = opts.partitionKey ?? 'pk';
  const target = new URL(opts.target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  // Admission state: units charged per window (table and partition). Charged before forwarding so that
  // concurrent requests cannot overshoot, refunded when the target refuses.
  let admitSecond = -1;
  let admitTable = 0;
  let admitParts = new Map<string, number>();
  let throttleUntil = 0;

  let windows = new Map<number, CapacityWindow>();
  let totals = { units: 0, items: 0, writeRequests: 0, throttledRequests: 0, unprocessedItems: 0 };
  const windowAt = (second: number): CapacityWindow => {
    let w = windows.get(second);
    if (!w) {
      w = { second, units: 0, items: 0, partitions: {}, throttledRequests: 0, unprocessedItems: 0 };
      windows.set(second, w);
    }
    return w;
  };

  interface Charge {
    second: number;
    units: number;
    pk: string;
  }

  /** Admits one write of `units` on partition `pk` now, or refuses it. */
  function admit(units: number, pk: string): Charge | null {
    const t = now();
    const second = Math.floor(t / 1000);
    if (second !== admitSecond) {
      admitSecond = second;
      admitTable = 0;
      admitParts = new Map();
    }
    if (t < throttleUntil) return null;
    const part = admitParts.get(pk) ?? 0;
    if (admitTable + units > opts.tableWcu || part + units > opts.partitionWcu) return null;
    admitTable += units;
    admitParts.set(pk, part + units);
    return { second, units, pk };
  }

  function refund(c: Charge): void {
    if (c.second !== admitSecond) return;
    admitTable -= c.units;
    admitParts.set(c.pk, (admitParts.get(c.pk) ?? 0) - c.units);
  }

  function record(charges: Charge[]): void {
    for (const c of charges) {
      const w = windowAt(c.second);
      w.units += c.units;
      w.items += 1;
      w.partitions[c.pk] = (w.partitions[c.pk] ?? 0) + c.units;
      totals.units += c.units;
      totals.items += 1;
    }
  }

  function forward(req: IncomingMessage, body: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const headers = { ...req.headers, host: target.host, 'content-length': String(body.length) };
      const up = http.request(
        { protocol: target.protocol, hostname: target.hostname, port: target.port, path: req.url, method: req.method, headers, agent },
        (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => resolve({ status: r.statusCode ?? 502, headers: r.headers, body: Buffer.concat(chunks) }));
          r.on('error', reject);
        },
      );
      up.on('error', reject);
      up.end(body);
    });
  }

  function throttled(res: ServerResponse, second: number, what: string): void {
    windowAt(second).throttledRequests += 1;
    totals.throttledRequests += 1;
    const body = Buffer.from(JSON.stringify({ __type: THROTTLE_TYPE, message: `The level of configured provisioned throughput for the table was exceeded (${what})` }));
    send(res, 400, body);
  }

  async function batchWrite(req: IncomingMessage, res: ServerResponse, raw: Buffer): Promise<void> {
    const doc = JSON.parse(raw.toString('utf8')) as { RequestItems: Record<string, WriteRequestJson[]> } & Record<string, unknown>;
    const second = Math.floor(now() / 1000);
    totals.writeRequests += 1;
    const accepted: Record<string, WriteRequestJson[]> = {};
    const refused: Record<string, WriteRequestJson[]> = {};
    const charges: Charge[] = [];
    let refusedCount = 0;
    for (const [table, requests] of Object.entries(doc.RequestItems ?? {})) {
      for (const w of requests) {
        const item = w.PutRequest?.Item ?? w.DeleteRequest?.Key ?? {};
        // A delete costs the size of the item it removes, unknown here: 1 unit, the least DynamoDB charges.
        const units = w.PutRequest ? writeUnits(item) : 1;
        const c = admit(units, attrText(item[pkName]));
        if (c) {
          charges.push(c);
          (accepted[table] ??= []).push(w);
        } else {
          refusedCount++;
          (refused[table] ??= []).push(w);
        }
      }
    }
    if (charges.length === 0 && refusedCount > 0) return throttled(res, second, 'BatchWriteItem');
    let up;
    try {
      up = await forward(req, Buffer.from(JSON.stringify({ ...doc, RequestItems: accepted })));
    } catch (err) {
      charges.forEach(refund);
      throw err;
    }
    if (up.status !== 200) {
      charges.forEach(refund);
      return send(res, up.status, up.body);
    }
    record(charges);
    const out = JSON.parse(up.body.toString('utf8')) as { UnprocessedItems?: Record<string, WriteRequestJson[]> };
    const unprocessed = out.UnprocessedItems ?? {};
    for (const [table, requests] of Object.entries(refused)) unprocessed[table] = [...(unprocessed[table] ?? []), ...requests];
    out.UnprocessedItems = unprocessed;
    if (refusedCount > 0) {
      windowAt(second).unprocessedItems += refusedCount;
      totals.unprocessedItems += refusedCount;
    }
    send(res, 200, Buffer.from(JSON.stringify(out)));
  }

  async function singleWrite(op: string, req: IncomingMessage, res: ServerResponse, raw: Buffer): Promise<void> {
    const doc = JSON.parse(raw.toString('utf8')) as { Item?: Record<string, AnyAttributeValue>; Key?: Record<string, AnyAttributeValue> };
    const second = Math.floor(now() / 1000);
    totals.writeRequests += 1;
    // UpdateItem and DeleteItem cost the size of the item they touch, unknown here: 1 unit, the least.
    const units = op === 'PutItem' && doc.Item ? writeUnits(doc.Item) : 1;
    const c = admit(units, attrText((doc.Item ?? doc.Key ?? {})[pkName]));
    if (!c) return throttled(res, second, op);
    let up;
    try {
      up = await forward(req, raw);
    } catch (err) {
      refund(c);
      throw err;
    }
    if (up.status === 200) record([c]);
    else refund(c);
    send(res, up.status, up.body);
  }

  const server = http.createServer((req, res) => {
    void (async () => {
      const raw = await readBody(req);
      const targetHeader = String(req.headers['x-amz-target'] ?? '');
      const op = targetHeader.startsWith(TARGET_PREFIX) ? targetHeader.slice(TARGET_PREFIX.length) : '';
      if (op === 'BatchWriteItem') return batchWrite(req, res, raw);
      if (op === 'PutItem' || op === 'DeleteItem' || op === 'UpdateItem') return singleWrite(op, req, res, raw);
      const up = await forward(req, raw);
      // Hop-by-hop headers describe the proxy↔dynalite connection, not ours: copying them would close the
      // client's keep-alive connection after every call.
      const { connection: _c, 'keep-alive': _k, 'transfer-encoding': _t, ...headers } = up.headers;
      res.writeHead(up.status, { ...headers, 'content-length': up.body.length });
      res.end(up.body);
    })().catch((err: unknown) => {
      if (res.headersSent) return res.destroy();
      send(res, 500, Buffer.from(JSON.stringify({ __type: 'com.amazon.coral.service#InternalFailure', message: `capacity proxy: ${(err as Error).message}` })));
    });
  });
  // Node clients keep an idle socket for the server's advertised Keep-Alive timeout minus 1 s: 1 s would make
  // every SDK call open a new connection. stop() closes idle connections itself.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;

  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    stats: () => ({
      windows: [...windows.values()].sort((a, b) => a.second - b.second).map((w) => ({ ...w, partitions: { ...w.partitions } })),
      totals: { ...totals },
    }),
    throttleFor(ms: number) {
      throttleUntil = Math.max(throttleUntil, now() + ms);
    },
    resetStats() {
      windows = new Map();
      totals = { units: 0, items: 0, writeRequests: 0, throttledRequests: 0, unprocessedItems: 0 };
    },
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      })),
  };
}
