// Authentication and per-device ACL, with real MQTT clients.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { stringify } from 'yaml';
import { hashSecret } from '../src/edge/auth.js';
import { startTestBridge, type TestBridge } from './support/harness.js';
import { TestDevice, events } from './support/mqtt-device.js';

describe('device authentication and ACL', () => {
  let tb: TestBridge;
  beforeAll(async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ib-auth-')), 'credentials.yaml');
    writeFileSync(file, stringify({ devices: [{ tenant: 'petco', device: 'feeder-1', secret: hashSecret('s3cret-1') }, { tenant: 'petco', device: 'feeder-2', secret: hashSecret('s3cret-2') }] }));
    tb = await startTestBridge({ mqtt: { auth: { enabled: true, credentialsFile: file } } });
  });
  afterAll(async () => tb?.stop());

  const connect = (username: string, password: string) =>
    mqtt.connectAsync(`mqtt://127.0.0.1:${tb.bridge.mqttPort}`, { protocolVersion: 4, username, password, reconnectPeriod: 0 });

  it('refuses a wrong secret or an unknown device with CONNACK 4', async () => {
    await expect(connect('petco/feeder-1', 'wrong')).rejects.toMatchObject({ code: 4 });
    await expect(connect('petco/nobody', 's3cret-1')).rejects.toMatchObject({ code: 4 });
  });

  it('lets a device publish to its own topics and read its own acks', async () => {
    const dev = await TestDevice.connect(tb.bridge.mqttPort, 'petco', 'feeder-1', { username: 'petco/feeder-1', password: 's3cret-1' });
    expect(await dev.send('own', events(1, 3))).toMatchObject({ status: 'accepted', watermark: 3 });
    await dev.close();
  });

  it('refuses a subscription to another device\'s acks (SUBACK 0x80) and keeps the connection', async () => {
    const c = await connect('petco/feeder-2', 's3cret-2');
    // MQTT.js turns a SUBACK return code 0x80 into a rejected subscribe carrying the packet.
    const refused = (topic: string) => c.subscribeAsync(topic, { qos: 1 }).then(() => null, (err: { packet?: { granted?: number[] } }) => err.packet?.granted);
    expect(await refused('ingest/petco/feeder-1/ack')).toEqual([128]);
    expect(await refused('ingest/#')).toEqual([128]);
    expect(await refused('ingest/petco/feeder-2/ack')).toBeNull();
    expect(c.connected).toBe(true);
    await c.endAsync(true);
  });

  it('closes the connection of a device publishing to another device\'s batch topic', async () => {
    const c = await connect('petco/feeder-2', 's3cret-2');
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    c.publish('ingest/petco/feeder-1/batch', JSON.stringify({ batchId: 'spoof', events: events(100, 101) }), { qos: 1 });
    await closed;
    const owner = await TestDevice.connect(tb.bridge.mqttPort, 'petco', 'feeder-1', { username: 'petco/feeder-1', password: 's3cret-1' });
    expect(await owner.sync()).toMatchObject({ watermark: 3 });
    await owner.close();
  });
});
