// The bridge on the real stack: readiness, storage set up, interop with real MQTT clients.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { Client } from '@opensearch-project/opensearch';
import mqtt from 'mqtt';
import { startTestBridge, type TestBridge } from './support/harness.js';
import { TestDevice, events } from './support/mqtt-device.js';
import { createDynamoClient } from '../src/store/dynamo-client.js';
import { decodeAck } from '../src/contract/wire.js';

const run = promisify(execFile);

describe('the bridge on the real stack', () => {
  let tb: TestBridge;
  let base: string;
  beforeAll(async () => {
    tb = await startTestBridge();
    base = `http://127.0.0.1:${tb.bridge.httpPort}`;
  });
  afterAll(async () => tb?.stop());

  it('is healthy and ready when Redis, DynamoDB and OpenSearch answer', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ready: true, checks: { redis: 'ok', dynamodb: 'ok', opensearch: 'ok' } });
  });

  it('created the events table and index', async () => {
    const dynamo = createDynamoClient(tb.config);
    const table = await dynamo.send(new DescribeTableCommand({ TableName: tb.config.dynamodb.table }));
    expect(table.Table?.TableStatus).toBe('ACTIVE');
    dynamo.destroy();
    const os = new Client({ node: tb.config.opensearch.node! });
    expect((await os.indices.exists({ index: tb.config.opensearch.index })).body).toBe(true);
    await os.close();
  });

  it('serves Prometheus metrics', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('# HELP ingest_events_received_total');
    expect(text).toContain('# TYPE ingest_admission_duration_seconds histogram');
  });

  it('exposes every metric the Grafana dashboard plots', async () => {
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const dashboard = JSON.parse(readFileSync(join(__dirname, '../ops/grafana/dashboards/ingest-bridge.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const used = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/ingest_[a-z_]+/g) ?? [])));
    const families = new Set([...(await (await fetch(`${base}/metrics`)).text()).matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]!));
    const missing = [...used].filter((m) => !families.has(m.replace(/_(bucket|sum|count)$/, '')));
    expect(used.size).toBeGreaterThan(15);
    expect(missing).toEqual([]);
  });

  it('talks to MQTT.js', async () => {
    const dev = await TestDevice.connect(tb.bridge.mqttPort, 'interop', 'mqttjs');
    expect(await dev.send('m1', events(1, 5))).toMatchObject({ status: 'accepted', watermark: 5 });
    await dev.close();
  });

  it('talks to mosquitto_pub and mosquitto_sub', async () => {
    const port = String(tb.bridge.mqttPort);
    const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '-V', 'mqttv311', '-q', '1', '-t', 'ingest/interop/mosq/ack', '-C', '1', '-W', '20']);
    let out = '';
    sub.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => sub.on('exit', resolve));
    // Wait until the subscription is in place: a sync answered on it proves it.
    await new Promise((r) => setTimeout(r, 500));
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-V', 'mqttv311', '-q', '1', '-t', 'ingest/interop/mosq/batch', '-m', JSON.stringify({ batchId: 'mosq-1', events: events(10, 12) })]);
    expect(await exited).toBe(0);
    expect(decodeAck(out.trim())).toMatchObject({ batchId: 'mosq-1', status: 'accepted', watermark: 12, accepted: 3 });
  });

  it('refuses an MQTT 5 client cleanly and keeps serving', async () => {
    const port = String(tb.bridge.mqttPort);
    const err = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-V', 'mqttv5', '-q', '1', '-t', 'ingest/interop/v5/batch', '-m', '{}']).catch((e: { code: number; stderr: string }) => e);
    expect((err as { code: number }).code).not.toBe(0);
    expect((err as { stderr: string }).stderr).toMatch(/Unsupported Protocol Version|protocol/i);
    const v5 = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0 }).catch((e: Error) => e);
    expect(v5).toBeInstanceOf(Error);
    expect((v5 as Error).message).toMatch(/Unacceptable protocol version|Unsupported protocol version/i);
    const dev = await TestDevice.connect(tb.bridge.mqttPort, 'interop', 'after-v5');
    expect(await dev.send('after', events(1, 1))).toMatchObject({ status: 'accepted' });
    await dev.close();
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/ingest_connects_total\{outcome="refused_protocol"\} 2/);
  });
});
