// Edge throughput: events per second accepted and acknowledged by the bridge's edge, side by side
// with a bare Aedes broker receiving the same messages and doing nothing with them.
//
//   node --import tsx bench/edge-throughput.ts [--devices 200] [--batch 100] [--seconds 15]
//
// Both runs use the same 200 MQTT.js devices at QoS 1, one batch in flight per device. For the bare
// broker a batch is "acknowledged" by its PUBACK; for the bridge by the contract ack on the ack
// topic, which is published only after the events are durable in Redis. The bridge runs its edge
// role only (no store/index workers competing for the 2 cores) with admission limits raised so that
// every batch is accepted: this measures the cost of the contract path, not the limits.
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { loadConfig } from '../src/config/load.js';
import { startBridge } from '../src/bridge.js';
import { startLocalStack } from '../src/stack/local-stack.js';
import { createLogger } from '../src/telemetry/logger.js';
import { decodeAck, type DeviceEvent } from '../src/contract/wire.js';
import { topicFor } from '../src/contract/topics.js';

const { values } = parseArgs({ options: { devices: { type: 'string', default: '200' }, batch: { type: 'string', default: '100' }, seconds: { type: 'string', default: '15' } } });
const DEVICES = Number(values.devices);
const BATCH = Number(values.batch);
const SECONDS = Number(values.seconds);

interface RunResult {
  events: number;
  batches: number;
  seconds: number;
  latenciesMs: number[];
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function batchPayload(device: number, seq: number): Buffer {
  const events: DeviceEvent[] = [];
  for (let i = 0; i < BATCH; i++) events.push({ seq: seq + i, ts: 1764806400000 + (seq + i) * 1000, type: 'weight', data: { grams: 4000 + i, device } });
  return Buffer.from(JSON.stringify({ batchId: `d${device}-${seq}`, events }));
}

/** Runs the fleet for SECONDS; `send` resolves when the batch counts as acknowledged. */
async function drive(label: string, clients: MqttClient[], send: (c: MqttClient, i: number, seq: number) => Promise<void>): Promise<RunResult> {
  const latencies: number[] = [];
  let batches = 0;
  const deadline = Date.now() + SECONDS * 1000;
  const started = Date.now();
  const progress = setInterval(() => process.stderr.write(`  ${label}: ${((Date.now() - started) / 1000).toFixed(0)} s, ${(batches * BATCH).toLocaleString()} events acked\n`), 5000);
  await Promise.all(
    clients.map(async (c, i) => {
      let seq = 1;
      while (Date.now() < deadline) {
        const t0 = performance.now();
        await send(c, i, seq);
        latencies.push(performance.now() - t0);
        seq += BATCH;
        batches++;
      }
    }),
  );
  clearInterval(progress);
  return { events: batches * BATCH, batches, seconds: (Date.now() - started) / 1000, latenciesMs: latencies.sort((a, b) => a - b) };
}

async function connectFleet(port: number): Promise<MqttClient[]> {
  const clients: MqttClient[] = [];
  for (let i = 0; i < DEVICES; i++) clients.push(await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId: `bench-${i}`, reconnectPeriod: 0 }));
  return clients;
}

async function runBare(): Promise<RunResult> {
  const broker = await Aedes.createBroker();
  const server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const clients = await connectFleet(port);
  const result = await drive('bare aedes', clients, async (c, i, seq) => {
    await c.publishAsync(topicFor('bench', `d${i}`, 'batch'), batchPayload(i, seq), { qos: 1 });
  });
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await new Promise<void>((r) => broker.close(() => r()));
  server.close();
  return result;
}

async function runBridge(endpoints: { redis: string; dynamodb: string; opensearch: string }): Promise<RunResult> {
  const config = loadConfig({
    env: {},
    overrides: {
      mqtt: { port: 0, connect: { ratePerSec: 100000, burst: 100000 } },
      http: { port: 0 },
      log: { level: 'warn' },
      redis: { url: endpoints.redis, keyPrefix: `bench${Date.now()}` },
      dynamodb: { endpoint: endpoints.dynamodb },
      opensearch: { node: endpoints.opensearch },
      admission: {
        maxAcceptPerBatch: BATCH,
        maxInFlightBatches: 100000,
        device: { ratePerSec: 1e7, burst: 1e9 },
        tenants: { default: { ratePerSec: 1e7, burst: 1e9, maxInFlightBatches: 100000 } },
        queue: { highWaterEvents: 1e12, maxEvents: 2e12 },
      },
    },
  });
  const bridge = await startBridge({ config, log: createLogger('warn'), roles: { edge: true, store: false, index: false } });
  const clients = await connectFleet(bridge.mqttPort);
  const waiting = new Map<string, () => void>();
  for (const [i, c] of clients.entries()) {
    await c.subscribeAsync(topicFor('bench', `d${i}`, 'ack'), { qos: 1 });
    c.on('message', (_t, payload) => {
      const ack = decodeAck(payload);
      if (ack.status !== 'accepted') throw new Error(`batch ${ack.batchId} not accepted: ${JSON.stringify(ack)}`);
      waiting.get(ack.batchId!)?.();
    });
  }
  const result = await drive('bridge edge', clients, (c, i, seq) => {
    const acked = new Promise<void>((r) => waiting.set(`d${i}-${seq}`, r));
    c.publish(topicFor('bench', `d${i}`, 'batch'), batchPayload(i, seq), { qos: 1 });
    return acked.then(() => void waiting.delete(`d${i}-${seq}`));
  });
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await bridge.stop();
  return result;
}

function row(label: string, r: RunResult): string {
  const eps = r.events / r.seconds;
  return `| ${label} | ${Math.round(eps).toLocaleString()} | ${r.batches.toLocaleString()} | ${percentile(r.latenciesMs, 50).toFixed(1)} | ${percentile(r.latenciesMs, 99).toFixed(1)} |`;
}

async function main(): Promise<void> {
  process.stderr.write(`edge throughput: ${DEVICES} devices × batches of ${BATCH} events, QoS 1, ${SECONDS} s per run\n`);
  process.stderr.write('starting the local stack (in memory)…\n');
  const stack = await startLocalStack({ inMemory: true, opensearch: { heapMb: 384 }, onProgress: (m) => process.stderr.write(`  ${m}\n`) });
  try {
    process.stderr.write('run 1/2: bare Aedes, no processing\n');
    const bare = await runBare();
    process.stderr.write('run 2/2: the bridge edge (validate, watermark, admission, enqueue to Redis, ack)\n');
    const bridge = await runBridge(stack.endpoints);
    const ratio = bridge.events / bridge.seconds / (bare.events / bare.seconds);
    process.stdout.write(
      [
        '',
        `| run | events/s acked | batches | p50 ack ms | p99 ack ms |`,
        `| --- | --- | --- | --- | --- |`,
        row('bare Aedes (PUBACK)', bare),
        row('bridge edge (contract ack)', bridge),
        '',
        `ratio bridge ÷ bare: ${ratio.toFixed(2)} (goal ≥ 0.5)`,
        '',
      ].join('\n'),
    );
  } finally {
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
