// A test device over MQTT.js: sends batches and waits for their acks by batchId.
import mqtt, { type MqttClient } from 'mqtt';
import { decodeAck, type Ack, type DeviceEvent } from '../../src/contract/wire.js';
import { topicFor } from '../../src/contract/topics.js';

export class TestDevice {
  private readonly waiting = new Map<string, (ack: Ack) => void>();
  private syncWaiters: ((ack: Ack) => void)[] = [];
  readonly acks: Ack[] = [];

  private constructor(
    readonly client: MqttClient,
    readonly tenant: string,
    readonly device: string,
  ) {
    client.on('message', (_topic, payload) => {
      const ack = decodeAck(payload);
      this.acks.push(ack);
      if (ack.status === 'sync') this.syncWaiters.shift()?.(ack);
      else if (ack.batchId !== undefined) this.waiting.get(ack.batchId)?.(ack);
    });
  }

  static async connect(port: number, tenant: string, device: string, opts: mqtt.IClientOptions = {}): Promise<TestDevice> {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      protocolVersion: 4,
      clientId: `${tenant}-${device}-${Math.random().toString(16).slice(2, 8)}`,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...opts,
    });
    await client.subscribeAsync(topicFor(tenant, device, 'ack'), { qos: 1 });
    return new TestDevice(client, tenant, device);
  }

  /** Publishes a raw payload to this device's batch topic and waits for the ack echoing batchId. */
  async sendRaw(batchId: string, payload: string | Buffer, timeoutMs = 10_000): Promise<Ack> {
    const got = new Promise<Ack>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ack for ${batchId} in ${timeoutMs} ms`)), timeoutMs);
      this.waiting.set(batchId, (ack) => {
        clearTimeout(timer);
        this.waiting.delete(batchId);
        resolve(ack);
      });
    });
    await this.client.publishAsync(topicFor(this.tenant, this.device, 'batch'), payload, { qos: 1 });
    return got;
  }

  send(batchId: string, events: DeviceEvent[]): Promise<Ack> {
    return this.sendRaw(batchId, JSON.stringify({ batchId, events }));
  }

  async sync(timeoutMs = 10_000): Promise<Ack> {
    const got = new Promise<Ack>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no sync ack in ${timeoutMs} ms`)), timeoutMs);
      this.syncWaiters.push((ack) => {
        clearTimeout(timer);
        resolve(ack);
      });
    });
    await this.client.publishAsync(topicFor(this.tenant, this.device, 'sync'), '{}', { qos: 1 });
    return got;
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** Events with seq from..to (inclusive). */
export function events(from: number, to: number, ts = 1764806400000): DeviceEvent[] {
  const out: DeviceEvent[] = [];
  for (let seq = from; seq <= to; seq++) out.push({ seq, ts: ts + seq * 1000, type: 'weight', data: { grams: 4000 + seq } });
  return out;
}
